"""The training task a worker process runs for one job id.

1. ``queued → running`` by compare-and-set (anything else — cancelled, already taken — skips).
2. Load ``<store>/datasets/<id>.npz``, build ``MLPClassifier(**params)`` and ``fit`` it with a
   per-epoch callback that records progress and history (written at most every
   ``FLUSH_INTERVAL`` seconds, and always at the end) and stops training when cancellation was
   requested (read every epoch, or every ``CANCEL_POLL`` seconds when epochs are shorter, so a
   store round trip never dominates a tiny epoch), ``job_timeout`` is exceeded, the worker is
   shutting down, or the heartbeat found the job taken away (reaped).
3. On success publish the artifact and meta to the model store, then ``running → succeeded``
   with the version. Otherwise end ``cancelled`` or ``failed`` with ``{type, message}``:
   ``timeout``, ``invalid_data`` (the engine's ValueError), ``dataset_error``, ``store_error``
   (OSError/ServiceError while publishing, e.g. ENOSPC or EROFS), ``worker_shutdown``,
   ``internal_error``. The dataset file is removed once loaded (a job is never retried), and
   in every case before the job ends.

A heartbeat thread stamps ``heartbeat_at`` every ``heartbeat_interval`` seconds while the job
runs, so a long epoch does not look dead. SIGTERM (sent by the consumer on shutdown) sets a
shutdown flag; while ``fit`` runs it also interrupts it at once (KeyboardInterrupt), but never
inside a store write or the publish.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from models import MLPClassifier
from service.config import Settings
from service.errors import ServiceError
from service.jobs.datasets import dataset_path, load_dataset, remove_dataset
from service.jobs.events import job_ended
from service.jobs.liveness import Heartbeat
from service.jobs.records import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobStore,
    error,
)
from service.jobs.stores import DEFAULT_NAMESPACE, make_job_store
from service.store import ModelStore

log = logging.getLogger("nnserve.jobs")
FLUSH_INTERVAL = 0.2  # seconds between progress writes
CANCEL_POLL = 0.02  # seconds between cancel_requested reads: every epoch unless epochs are tiny
_STOP_ERRORS = {
    "timeout": "training exceeded job_timeout ({timeout:g} s) after {epoch} epochs",
    "shutdown": "the worker was shut down while the job was running (after {epoch} epochs)",
    "lost": "the job was taken away from this worker (heartbeat reaped) after {epoch} epochs",
}
_STOP_TYPES = {"timeout": "timeout", "shutdown": "worker_shutdown", "lost": "worker_lost"}


class WorkerShutdown(KeyboardInterrupt):
    """Raised inside ``fit`` by SIGTERM; Huey treats it as an interrupted task."""


def worker_id() -> str:
    """``host:parent_pid:pid`` — the consumer (parent) can find its own workers' jobs."""
    return f"{socket.gethostname()}:{os.getppid()}:{os.getpid()}"


class ShutdownGuard:
    """SIGTERM handler for the duration of one task (main thread only)."""

    def __init__(self) -> None:
        self.requested = False
        self._interruptible = False
        self._previous: Any = None

    def __enter__(self) -> ShutdownGuard:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum: int, frame: object) -> None:
        first, self.requested = not self.requested, True
        if first and self._interruptible:
            raise WorkerShutdown

    @contextlib.contextmanager
    def interruptible(self, on: bool = True) -> Iterator[None]:
        previous, self._interruptible = self._interruptible, on
        try:
            if on and self.requested:
                raise WorkerShutdown
            yield
        finally:
            self._interruptible = previous


def run_job(settings: Settings, job_id: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
    """Run one job to its end (the body of the Huey task)."""
    job_store = make_job_store(settings, namespace=namespace)
    try:
        with ShutdownGuard() as guard:
            _run(settings, job_store, job_id, guard)
    finally:
        job_store.close()


def _run(settings: Settings, job_store: JobStore, job_id: str, guard: ShutdownGuard) -> None:
    try:
        job = job_store.get(job_id)
    except ServiceError:
        log.warning("job %s has no record; skipping its message", job_id)
        return
    me = worker_id()
    if not job_store.transition(job_id, (QUEUED,), RUNNING, worker=me,
                                attempts=job["attempts"] + 1):
        log.info("job %s is %s, not queued; skipping", job_id, job_store.get(job_id)["status"])
        return
    log.info("job %s running on %s", job_id, me)
    beat = Heartbeat(job_store, job_id, me, settings.heartbeat_interval)
    beat.start()
    training = _Training(settings, job_store, job, guard, beat)
    try:
        training.run()
    except Exception as exc:
        log.warning("job %s failed: %s", job_id, exc, exc_info=not isinstance(exc, ValueError))
        with guard.interruptible(False):
            _fail(job_store, job_id, *_failure(exc, "train"), **training.fields())
    except BaseException as exc:  # SIGTERM while training: end the job explicitly, then exit
        with guard.interruptible(False):
            _fail(job_store, job_id, *_failure(exc, "train"), **training.fields())
        raise
    finally:
        beat.stop()
        remove_dataset(settings.store, job_id)


class _Training:
    def __init__(self, settings: Settings, job_store: JobStore, job: dict[str, Any],
                 guard: ShutdownGuard, beat: Heartbeat) -> None:
        self.settings, self.job_store, self.job, self.guard, self.beat = (
            settings, job_store, job, guard, beat)
        self.job_id = job["job_id"]
        self.history: list[dict[str, Any]] = []
        self.stop_reason: str | None = None
        self.next_flush = self.next_cancel_check = 0.0
        self.deadline = 0.0

    def fields(self) -> dict[str, Any]:
        return {"progress": self.progress(), "history": self.history}

    def progress(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {"epoch": last.get("epoch", 0), "epochs": self.job["params"]["epochs"],
                "loss": last.get("loss"), "accuracy": last.get("accuracy"),
                "val_accuracy": last.get("val_accuracy")}

    def on_epoch(self, epoch: int, metrics: dict[str, Any]) -> bool:
        with self.guard.interruptible(False):
            self.history.append({k: None if v is None else (int(v) if k == "epoch" else float(v))
                                 for k, v in metrics.items()})
            now = time.monotonic()
            if self.guard.requested:
                self.stop_reason = "shutdown"
            elif self.beat.lost:
                self.stop_reason = "lost"
            elif now > self.deadline:
                self.stop_reason = "timeout"
            elif now >= self.next_cancel_check:
                self.next_cancel_check = now + CANCEL_POLL
                if self.job_store.cancel_requested(self.job_id):
                    self.stop_reason = "cancel"
            if now >= self.next_flush:
                self.job_store.update(self.job_id, **self.fields())
                self.next_flush = now + FLUSH_INTERVAL
            if self.stop_reason is None and self.guard.requested:  # arrived during the write
                self.stop_reason = "shutdown"
            return self.stop_reason is None

    def run(self) -> None:
        start = time.monotonic()
        self.deadline = start + self.settings.job_timeout
        path = dataset_path(self.settings.store, self.job_id)
        try:
            X, y, names = load_dataset(path)
        except (OSError, ValueError) as exc:
            _fail(self.job_store, self.job_id, *_failure(exc, "load"))
            return
        remove_dataset(self.settings.store, self.job_id)  # in memory now; never retried
        clf = MLPClassifier(**self.job["params"])
        with self.guard.interruptible():
            clf.fit(X, y, on_epoch=self.on_epoch, feature_names=names)
        with self.guard.interruptible(False):
            self._finish(clf, time.monotonic() - start)

    def _finish(self, clf: MLPClassifier, seconds: float) -> None:
        fields = self.fields()
        if self.stop_reason is None and self.job_store.cancel_requested(self.job_id):
            self.stop_reason = "cancel"
        if self.stop_reason == "cancel":
            _end(self.job_store, self.job_id, CANCELLED, **fields)
            return
        if self.stop_reason is not None:
            message = _STOP_ERRORS[self.stop_reason].format(
                timeout=self.settings.job_timeout, epoch=len(self.history))
            _end(self.job_store, self.job_id, FAILED,
                 error=error(_STOP_TYPES[self.stop_reason], message), **fields)
            return
        buf = io.BytesIO()
        clf.save(buf)
        meta = self._meta(clf, seconds)
        try:
            version = ModelStore(self.settings.store).publish(self.job["model"], buf.getvalue(),
                                                              meta)
        except (OSError, ServiceError) as exc:
            _fail(self.job_store, self.job_id, *_failure(exc, "publish"), **fields)
            return
        log.info("job %s published %s version %d", self.job_id, self.job["model"], version)
        _end(self.job_store, self.job_id, SUCCEEDED, model_version=version, **fields)

    def _meta(self, clf: MLPClassifier, seconds: float) -> dict[str, Any]:
        return version_meta(clf, self.history, self.job["dataset"], self.job_id, seconds)


def version_meta(clf: MLPClassifier, history: list[dict[str, Any]], dataset: dict[str, Any],
                 job_id: str | None, seconds: float) -> dict[str, Any]:
    """``meta.json`` of a version: ``clf`` trained on ``dataset`` ({rows, features, sha256})."""
    params = clf.get_params()
    best = history[-1]
    if params["early_stopping"]:  # fit restored the best epoch's weights
        key = "val_loss" if best.get("val_loss") is not None else "loss"
        best = min(history, key=lambda h: h[key])
    return {
        "params": params, "n_features": int(clf.n_features_in_),
        "classes": clf.classes_.tolist(), "feature_names": clf.feature_names_,
        "metrics": dict(best), "history": history,
        "dataset": {k: dataset[k] for k in ("rows", "features", "sha256")},
        "job_id": job_id, "training_seconds": round(seconds, 3),
    }


def _failure(exc: BaseException, stage: str) -> tuple[str, str]:
    """The job's error ``(type, message)`` for ``exc`` raised while at ``stage``."""
    if isinstance(exc, KeyboardInterrupt):
        return "worker_shutdown", "the worker was shut down while the job was running"
    if stage == "load":
        return "dataset_error", f"the training data of this job is missing or unreadable: {exc}"
    if stage == "publish":
        if isinstance(exc, OSError):
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            return "store_error", (f"could not write the model to the store: {reason} "
                                   f"({exc.filename or 'store'})")
        return "store_error", f"could not write the model to the store: {exc}"
    if isinstance(exc, ValueError):
        return "invalid_data", str(exc)
    return "internal_error", f"{type(exc).__name__}: {exc}"


def _end(job_store: JobStore, job_id: str, status: str, **fields: Any) -> None:
    if job_store.transition(job_id, (RUNNING,), status, **fields):
        job_ended(job_store, job_id)
        err = fields.get("error")
        detail = f" ({err['type']}: {err['message']})" if err else ""
        log.info("job %s %s%s", job_id, status, detail)
    else:
        log.warning("job %s was no longer running when it ended %s", job_id, status)


def _fail(job_store: JobStore, job_id: str, kind: str, message: str, **fields: Any) -> None:
    _end(job_store, job_id, FAILED, error=error(kind, message), **fields)
