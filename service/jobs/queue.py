"""The Huey queue for a ``Settings``: ``SqliteHuey(<store>/queue.sqlite3)`` when
``NNSERVE_QUEUE`` is ``sqlite``, ``RedisHuey`` on that server when it is a redis URL (the job
store, ``service.jobs.stores``, follows the same setting and namespace).
A queue message is the ``train`` task with one argument, the job id, and the job id is also the
Huey task id (so a queued job can be revoked by id).
"""

from __future__ import annotations

import weakref

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper

from service.config import Settings
from service.jobs.records import JobStore
from service.jobs.search import Searcher
from service.jobs.stores import DEFAULT_NAMESPACE, make_job_store
from service.jobs.task import run_job

_TASKS: weakref.WeakKeyDictionary[Huey, TaskWrapper] = weakref.WeakKeyDictionary()


def make_huey(settings: Settings, *, namespace: str = DEFAULT_NAMESPACE) -> Huey:
    """The Huey instance for ``settings`` with the ``train`` task registered on it."""
    if settings.uses_redis:
        huey: Huey = RedisHuey(namespace, url=settings.queue, results=False)
    elif settings.queue == "sqlite":
        settings.store.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(namespace, filename=str(settings.store / "queue.sqlite3"),
                          results=False)
    else:
        raise ValueError(f"NNSERVE_QUEUE={settings.queue!r}: expected 'sqlite' or a redis:// URL")

    def train(job_id: str) -> None:
        run_job(settings, job_id, namespace=namespace)
        job_store = make_job_store(settings, namespace=namespace)
        try:  # a search's trial: its parent goes on at once (the reaper's sweep backs this up)
            searcher(settings, job_store, huey).after_child(job_id)
        finally:
            job_store.close()

    _TASKS[huey] = huey.task(name="train")(train)
    return huey


def enqueue_job(huey: Huey, job_id: str) -> None:
    """Put a message for ``job_id`` on the queue."""
    task = _TASKS.get(huey)
    if task is None:
        raise RuntimeError("this Huey instance was not built by make_huey()")
    huey.enqueue(task.s(job_id, id=job_id))


def revoke_job(huey: Huey, job_id: str) -> None:
    """Tell consumers to skip the (queued) message of ``job_id``."""
    huey.revoke_by_id(job_id, revoke_once=True)


def searcher(settings: Settings, job_store: JobStore, huey: Huey) -> Searcher:
    """The ``Searcher`` that queues trials on ``huey``."""
    return Searcher(settings, job_store, lambda job_id: enqueue_job(huey, job_id),
                    lambda job_id: revoke_job(huey, job_id))
