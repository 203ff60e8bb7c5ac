"""Reporting a job that reached its final state: metrics and a ``job_finished`` log event."""

from __future__ import annotations

import logging
from typing import Any

from service import observability
from service.jobs.records import JobStore

log = logging.getLogger("nnserve.jobs")


def job_ended(job_store: JobStore, job_id: str) -> dict[str, Any] | None:
    """Call once, right after the transition that finished ``job_id`` succeeded; never raises."""
    try:
        job = job_store.get(job_id)
        observability.job_finished(job)
        return job
    except Exception:
        log.warning("could not report the end of job %s", job_id, exc_info=True)
        return None
