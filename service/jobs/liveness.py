"""Liveness of running jobs: the worker's ``Heartbeat`` and the ``Reaper`` that fails running
jobs whose worker stopped heartbeating (killed, OOM, host lost).

Huey delivers a message at most once: a worker killed mid-task loses it. Such a job is FAILED
with error type ``worker_lost`` once its heartbeat is older than ``heartbeat_timeout``; it is
not re-queued (a retry could be killed the same way, and training is not idempotent for the
version it publishes). Ages are measured on the job store's clock, never a worker's. Only the
``Reaper``, a thread in every worker and API process, writes this outcome: reading a job never
does, so a read answers even when the store cannot be written. A job that publishes while it
is being reaped ends one way only: the publish commits by the same compare-and-set (see
``service.jobs.task``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from service.config import Settings
from service.errors import NotFound
from service.jobs.datasets import remove_dataset
from service.jobs.events import job_ended
from service.jobs.records import FAILED, RUNNING, SUCCEEDED, JobStore, error, parse_iso
from service.jobs.search_state import KIND as SEARCH
from service.store import ModelStore

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
        failing = False
        try:
            while not self._stop_event.wait(self.interval):
                try:
                    if not self.job_store.heartbeat(self.job_id, self.worker):
                        self.lost = True
                        return
                except Exception as exc:  # the store is down: beat again next interval
                    if not failing:
                        log.warning("heartbeat of job %s failed (%s)", self.job_id, exc)
                    failing = True
                    continue
                if failing:
                    log.info("heartbeat of job %s written again", self.job_id)
                failing = False
        finally:
            self.job_store.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


class Reaper(threading.Thread):
    """Fails stale running jobs every ``period`` seconds, then calls ``also`` (the worker
    announces itself and advances searches there)."""

    def __init__(self, job_store: JobStore, settings: Settings,
                 also: Callable[[], None] | None = None) -> None:
        super().__init__(name="reaper", daemon=True)
        self.job_store, self.settings, self.also = job_store, settings, also
        self.period = max(0.1, min(settings.heartbeat_timeout / 4, 10.0))
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.period):
            try:
                reap_stale(self.job_store, self.settings)
                finish_publishes(self.job_store, self.settings)
                if self.also is not None:
                    self.also()
            except Exception as exc:
                log.warning("reaper: the job store is unreachable (%s)", exc)
        self.job_store.close()

    def stop(self, wait: bool = True) -> None:
        self._stop_event.set()
        if wait:
            self.join(timeout=5)


def heartbeat_age(job: dict[str, Any], now: float) -> float | None:
    """Seconds since the job's last heartbeat at ``now`` on the store's clock (None if it never
    had one)."""
    beat = parse_iso(job.get("heartbeat_at") or job.get("started_at"))
    return None if beat is None else now - beat


def fail_lost(job_store: JobStore, settings: Settings, job: dict[str, Any],
              now: float | None = None) -> bool:
    """Fail a running job as ``worker_lost``; False if it was no longer running."""
    age = heartbeat_age(job, job_store.now() if now is None else now)
    since = "never" if age is None else f"for {age:.1f} s"
    message = (f"worker {job.get('worker')} sent no heartbeat {since} (heartbeat_timeout "
               f"{settings.heartbeat_timeout:g} s): it was killed or lost; the job is not retried")
    remove_dataset(settings.store, job["job_id"])  # running or finished: no longer needed
    if not job_store.transition(job["job_id"], (RUNNING,), FAILED,
                                error=error("worker_lost", message)):
        return False
    log.warning("job %s failed: %s", job["job_id"], message)
    job_ended(job_store, job["job_id"])
    return True


def reap_stale(job_store: JobStore, settings: Settings) -> list[str]:
    """Fail every running job whose heartbeat is older than ``heartbeat_timeout`` by the store's
    clock; returns their ids."""
    # A search's parent runs on no worker and has no heartbeat (see ``service.jobs.search``).
    stale = [job for job in job_store.stale_running(settings.heartbeat_timeout)
             if job.get("kind") != SEARCH]
    now = job_store.now() if stale else 0.0
    return [job["job_id"] for job in stale if fail_lost(job_store, settings, job, now)]


def finish_publishes(job_store: JobStore, settings: Settings) -> list[str]:
    """Put in place the versions whose job committed (``succeeded`` with that version) but
    whose worker died before the version's rename; returns their ``model/version``."""
    done = []
    models = ModelStore(settings.store)
    for name, staged, meta in models.orphaned_publishes():
        try:
            job = job_store.get(str(meta.get("job_id")))
        except NotFound:
            continue
        if (job["status"], job["model"], job["model_version"]) == (SUCCEEDED, name,
                                                                    meta.get("version")):
            models.adopt(name, staged, job["model_version"])
            log.warning("job %s had committed %s version %d when its worker died: put in place",
                        job["job_id"], name, job["model_version"])
            done.append(f"{name}/{job['model_version']}")
    return done
