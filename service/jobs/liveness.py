"""Liveness of running jobs: the worker's ``Heartbeat`` and the ``Reaper`` that fails running
jobs whose worker stopped heartbeating (killed, OOM, host lost).

Huey delivers a message at most once: a worker killed mid-task loses it. Such a job is FAILED
with error type ``worker_lost`` once its heartbeat is older than ``heartbeat_timeout``; it is
not re-queued (a retry could be killed the same way, and training is not idempotent for the
version it publishes). Both the worker's reaper thread and ``JobService.get``/``list`` apply it,
so a reader never sees a dead job as running forever.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from service.config import Settings
from service.jobs.datasets import remove_dataset
from service.jobs.events import job_ended
from service.jobs.records import FAILED, RUNNING, JobStore, error, parse_iso

log = logging.getLogger("nnserve.jobs")


class Heartbeat(threading.Thread):
    """Stamps the job's heartbeat every ``interval`` s; ``lost`` once the store refuses."""

    def __init__(self, job_store: JobStore, job_id: str, worker: str, interval: float) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_store, self.job_id, self.worker = job_store, job_id, worker
        self.interval = interval
        self.lost = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                try:
                    if not self.job_store.heartbeat(self.job_id, self.worker):
                        self.lost = True
                        return
                except Exception:
                    log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
        finally:
            self.job_store.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


class Reaper(threading.Thread):
    """Fails stale running jobs every ``period`` seconds."""

    def __init__(self, job_store: JobStore, settings: Settings) -> None:
        super().__init__(name="reaper", daemon=True)
        self.job_store, self.settings = job_store, settings
        self.period = max(0.1, min(settings.heartbeat_timeout / 4, 10.0))
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.period):
            try:
                reap_stale(self.job_store, self.settings)
            except Exception:
                log.warning("reaper: the job store is unreachable", exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def heartbeat_age(job: dict[str, Any], now: float | None = None) -> float | None:
    """Seconds since the job's last heartbeat (None if it never had one)."""
    beat = parse_iso(job.get("heartbeat_at") or job.get("started_at"))
    return None if beat is None else (time.time() if now is None else now) - beat


def fail_lost(job_store: JobStore, settings: Settings, job: dict[str, Any]) -> dict[str, Any]:
    """Fail a running job as ``worker_lost``; returns the record as it is now."""
    age = heartbeat_age(job)
    since = "never" if age is None else f"for {age:.1f} s"
    message = (f"worker {job.get('worker')} sent no heartbeat {since} (heartbeat_timeout "
               f"{settings.heartbeat_timeout:g} s): it was killed or lost; the job is not retried")
    remove_dataset(settings.store, job["job_id"])  # running or finished: no longer needed
    if job_store.transition(job["job_id"], (RUNNING,), FAILED,
                            error=error("worker_lost", message)):
        log.warning("job %s failed: %s", job["job_id"], message)
        job_ended(job_store, job["job_id"])
    return job_store.get(job["job_id"])


def reap_if_stale(job_store: JobStore, settings: Settings,
                  job: dict[str, Any]) -> dict[str, Any]:
    """``job`` itself, or its failed record if it is running without a recent heartbeat."""
    if job.get("status") != RUNNING:
        return job
    age = heartbeat_age(job)
    if age is not None and age <= settings.heartbeat_timeout:
        return job
    return fail_lost(job_store, settings, job)


def reap_stale(job_store: JobStore, settings: Settings) -> list[str]:
    """Fail every stale running job; returns their ids."""
    return [fail_lost(job_store, settings, job)["job_id"]
            for job in job_store.stale_running(settings.heartbeat_timeout)]
