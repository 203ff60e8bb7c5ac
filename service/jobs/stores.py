"""The job store a ``Settings`` selects: ``SqliteJobStore(<store>/jobs.sqlite3)``, or
``RedisJobStore`` when ``NNSERVE_QUEUE`` is a redis URL. ``namespace`` keeps several deployments
(or test runs) apart on one Redis; the queue (``service.jobs.queue``) uses the same one."""

from __future__ import annotations

from service.config import Settings
from service.jobs.records import JobStore
from service.jobs.redis_store import RedisJobStore
from service.jobs.sqlite_store import SqliteJobStore

DEFAULT_NAMESPACE = "nnserve"


def make_job_store(settings: Settings, *, namespace: str = DEFAULT_NAMESPACE) -> JobStore:
    if settings.uses_redis:
        return RedisJobStore(settings.queue, prefix=f"{namespace}:",
                             idempotency_ttl=settings.idempotency_ttl)
    return SqliteJobStore(settings.store / "jobs.sqlite3",
                          idempotency_ttl=settings.idempotency_ttl)
