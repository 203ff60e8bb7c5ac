"""Training jobs: records (``JobStore``), the Huey queue, ``JobService`` and the worker.

The API process calls ``JobService`` (``service.jobs.handler``: submit, get, list, cancel, ping);
``nnserve worker`` runs ``service.jobs.worker.main``. See ``service.jobs.worker`` for what happens
to a job whose worker is killed or stopped, and ``service.jobs.liveness`` for heartbeats.
"""

from service.jobs.handler import JobService
from service.jobs.queue import make_huey
from service.jobs.records import STATUSES, IdempotencyRecord, JobStore
from service.jobs.redis_store import RedisJobStore
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.stores import make_job_store

__all__ = ["STATUSES", "IdempotencyRecord", "JobService", "JobStore", "RedisJobStore",
           "SqliteJobStore", "make_huey", "make_job_store"]
