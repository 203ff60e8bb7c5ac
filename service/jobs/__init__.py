"""Training jobs: records (``JobStore``), the Huey queue, ``JobService`` and the worker.

The API process calls ``JobService`` (submit, get, list, cancel, ping); ``nnserve worker`` runs
``service.jobs.worker.main``. See ``service.jobs.worker`` for what happens to a job whose worker
is killed or stopped.
"""

from service.jobs.queue import make_huey, make_job_store
from service.jobs.records import STATUSES, IdempotencyRecord, JobStore
from service.jobs.redis_store import RedisJobStore
from service.jobs.service import JobService
from service.jobs.sqlite_store import SqliteJobStore

__all__ = ["STATUSES", "IdempotencyRecord", "JobService", "JobStore", "RedisJobStore",
           "SqliteJobStore", "make_huey", "make_job_store"]
