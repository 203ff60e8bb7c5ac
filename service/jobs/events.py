"""Reporting a job that reached its final state: metrics and a ``job_finished`` log event.

Free of the HTTP edge (``service.observability``, Flask): the worker reports here too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from service.jobs.records import JobStore
from service.logs import log_event
from service.metrics import record_job_finished

log = logging.getLogger("nnserve.jobs")


def job_ended(job_store: JobStore, job_id: str) -> dict[str, Any] | None:
    """Call once, right after the transition that finished ``job_id`` succeeded; never raises."""
    try:
        job = job_store.get(job_id)
        job_finished(job)
        return job
    except Exception:
        log.warning("could not report the end of job %s", job_id, exc_info=True)
        return None


def job_finished(job: Mapping[str, Any]) -> None:
    """Metrics and a ``job_finished`` event for a job record that just reached its final status
    (once per job, right after the transition succeeded)."""
    started, finished = job.get("started_at"), job.get("finished_at")
    seconds = None
    if started and finished:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)) \
            .total_seconds()
    record_job_finished(job["status"], seconds)
    log_event("job_finished", level=logging.WARNING if job["status"] == "failed" else logging.INFO,
              job_id=job.get("job_id"), model=job.get("model"), status=job["status"],
              seconds=seconds, model_version=job.get("model_version"),
              error_type=(job.get("error") or {}).get("type"))
