"""The Huey queue and the job store for a ``Settings``: SQLite files in the store, or Redis.

``Settings.queue`` selects both: ``sqlite`` → ``SqliteHuey(<store>/queue.sqlite3)`` and
``SqliteJobStore(<store>/jobs.sqlite3)``; a redis URL → ``RedisHuey`` and ``RedisJobStore`` on
that server. ``namespace`` keeps several deployments (or test runs) apart on one Redis.
A queue message is the ``train`` task with one argument, the job id, and the job id is also the
Huey task id (so a queued job can be revoked by id).
"""

from __future__ import annotations

import weakref

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper

from service.config import Settings
from service.jobs.records import JobStore
from service.jobs.redis_store import RedisJobStore
from service.jobs.sqlite_store import SqliteJobStore

DEFAULT_NAMESPACE = "nnserve"
_TASKS: weakref.WeakKeyDictionary[Huey, TaskWrapper] = weakref.WeakKeyDictionary()


def make_job_store(settings: Settings, *, namespace: str = DEFAULT_NAMESPACE) -> JobStore:
    if settings.uses_redis:
        return RedisJobStore(settings.queue, prefix=f"{namespace}:",
                             idempotency_ttl=settings.idempotency_ttl)
    return SqliteJobStore(settings.store / "jobs.sqlite3",
                          idempotency_ttl=settings.idempotency_ttl)


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
        from service.jobs.task import run_job

        run_job(settings, job_id, namespace=namespace)

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
