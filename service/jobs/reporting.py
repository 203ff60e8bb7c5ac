"""How a running job's progress and outcome reach the job store, through store outages.

Training never waits on the store: ``on_epoch`` hands each epoch to a ``ProgressWriter``
thread, which writes the new history entries and the latest progress every ``interval``
seconds and polls for a cancel request. A failed write is retried with exponential backoff
and never stops training; the entries it carried stay pending for the next write. The final
transition (succeeded, failed, cancelled) is retried by ``record_end`` until the store takes
it, so a job that fails while the store is down is recorded, with its true reason, once the
store is back. Meanwhile the heartbeat keeps the job from being reaped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from service.errors import ServiceError
from service.jobs.events import job_ended
from service.jobs.records import RUNNING, JobStore

log = logging.getLogger("nnserve.jobs")
T = TypeVar("T")
MAX_BACKOFF = 2.0  # seconds: the longest wait between two attempts at a store write


def retrying(call: Callable[[], T], what: str, give_up: Callable[[float], bool]) -> T:
    """``call()``, retried with exponential backoff while it raises, until ``give_up(seconds
    spent)`` says so (then its last error is raised)."""
    start, delay, warned = time.monotonic(), 0.05, False
    while True:
        try:
            result = call()
        except ServiceError:  # an answer (e.g. NotFound), not an outage
            raise
        except Exception as exc:
            if give_up(time.monotonic() - start + delay):
                raise
            if not warned:
                log.warning("%s failed (%s); retrying until the job store is back", what, exc)
                warned = True
            time.sleep(delay)
            delay = min(2 * delay, MAX_BACKOFF)
            continue
        if warned:
            log.info("%s succeeded after %.1f s", what, time.monotonic() - start)
        return result


def record_end(job_store: JobStore, job_id: str, status: str,
               give_up: Callable[[float], bool], from_states: tuple[str, ...] = (RUNNING,),
               *, report: bool = True, **fields: Any) -> bool:
    """Move the job to its final ``status`` (compare-and-set from ``from_states``), retrying
    through store outages; then, with ``report``, ``report_end``. False when the job had
    already left those states (e.g. reaped)."""
    attempts = []

    def attempt() -> bool:
        attempts.append(1)
        return job_store.transition(job_id, from_states, status, **fields)

    ended = retrying(attempt, f"recording job {job_id} {status}", give_up)
    if not ended and len(attempts) > 1:  # an attempt whose answer was lost may have won
        job = job_store.get(job_id)
        ended = job["status"] == status and all(
            job.get(k) == fields[k] for k in ("model_version", "error") if k in fields)
    if not ended:
        log.warning("job %s was no longer running when it ended %s", job_id, status)
    elif report:
        report_end(job_store, job_id, fields.get("error"))
    return ended


def report_end(job_store: JobStore, job_id: str, err: dict[str, str] | None = None) -> None:
    """Metrics and logs of a job that just ended."""
    job = job_ended(job_store, job_id)
    detail = f" ({err['type']}: {err['message']})" if err else ""
    log.info("job %s %s%s", job_id, job["status"] if job else "ended", detail)


class ProgressWriter(threading.Thread):
    """Writes a job's new history entries and progress every ``interval`` seconds (backing off
    while the store fails) and polls its cancel request."""

    def __init__(self, job_store: JobStore, job_id: str, interval: float) -> None:
        super().__init__(name=f"progress-{job_id}", daemon=True)
        self.job_store, self.job_id, self.interval = job_store, job_id, interval
        self.cancel_requested = False
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._progress: dict[str, Any] | None = None
        self._stop_event = threading.Event()
        self._failures = 0

    def post(self, entry: dict[str, Any], progress: dict[str, Any]) -> None:
        """Called by training once per epoch: O(1), no store access."""
        with self._lock:
            self._pending.append(entry)
            self._progress = progress

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self._delay()):
                self._write()
        finally:
            self.job_store.close()

    def _delay(self) -> float:
        return min(self.interval * 2 ** self._failures, MAX_BACKOFF) if self._failures else \
            self.interval

    def _write(self) -> None:
        with self._lock:
            entries, progress = list(self._pending), self._progress
        try:
            if progress is not None:
                self.job_store.update(self.job_id, progress=progress, history=entries)
            if self.job_store.cancel_requested(self.job_id):
                self.cancel_requested = True
        except Exception as exc:
            if not self._failures:
                log.warning("progress of job %s not written (%s); retrying with backoff",
                            self.job_id, exc)
            self._failures += 1
            return
        if self._failures:
            log.info("progress of job %s written again after %d failures", self.job_id,
                     self._failures)
        self._failures = 0
        with self._lock:
            del self._pending[:len(entries)]
            if self._progress is progress:
                self._progress = None

    def stop(self) -> list[dict[str, Any]]:
        """Stop writing; returns the entries not written yet (the final transition carries
        them)."""
        self._stop_event.set()
        if self.ident is not None:
            self.join(timeout=10)
        with self._lock:
            entries, self._pending = self._pending, []
        return entries
