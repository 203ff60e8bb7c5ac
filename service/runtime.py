"""The per-process objects behind the API: settings, model store, model cache, job service.

Built lazily on first use in each process, because gunicorn forks workers after importing the
app and database connections must not cross a fork.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import current_app

from service.config import Settings
from service.jobs import JobService
from service.model_cache import ModelCache
from service.store import ModelStore


@dataclass
class Runtime:
    settings: Settings
    store: ModelStore
    cache: ModelCache
    jobs: JobService
    pid: int


def build_runtime(settings: Settings) -> Runtime:
    store = ModelStore(settings.store)
    return Runtime(settings=settings, store=store,
                   cache=ModelCache(store, capacity=settings.cache_size),
                   jobs=JobService(settings, store, reap=True), pid=os.getpid())


def get_runtime() -> Runtime:
    """This process's runtime for the current app, rebuilt after a fork."""
    ext = current_app.extensions
    runtime: Runtime | None = ext.get("nnserve")
    if runtime is None or runtime.pid != os.getpid():
        runtime = ext["nnserve"] = build_runtime(current_app.config["NNSERVE"])
    return runtime
