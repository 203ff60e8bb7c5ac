"""The training task a worker process runs for one job id.

1. ``queued → running`` by compare-and-set (anything else — cancelled, already taken — skips).
2. Load ``<store>/datasets/<id>.npz``, build ``MLPClassifier(**params)`` and ``fit`` it. Each
   epoch goes to a ``ProgressWriter`` (``service.jobs.reporting``), which writes progress and
   the new history entries every ``FLUSH_INTERVAL`` seconds, retries through store outages and
   polls for a cancel request; training itself never waits on the store. Training stops when
   cancellation was requested, ``job_timeout`` is exceeded (an alarm, mid-batch if need be), the
   worker is shutting down, or the heartbeat found the job taken away (reaped).
3. On success publish the artifact and meta (with the full history) to the model store. The
   publish commits by the compare-and-set ``running → succeeded`` with the version, taken after
   the version is written and before it becomes visible: a job reaped meanwhile leaves no
   version, and a version appears only once its record says succeeded (a worker killed between
   the two has its version put in place by the next reaper pass, ``finish_publishes``; a rename
   that fails turns the record to failed). Otherwise end ``cancelled``
   or ``failed`` with ``{type, message}``: ``timeout``, ``invalid_data`` (the engine's
   ValueError), ``dataset_error``, ``store_error`` (OSError/ServiceError while publishing, e.g.
   ENOSPC or EROFS), ``worker_shutdown``, ``internal_error``. Messages name files relative to
   the store. The final transition is retried until the job store takes it. The dataset file is
   removed once loaded (a job is never retried), and in every case before the job ends.

A heartbeat thread stamps ``heartbeat_at`` every ``heartbeat_interval`` seconds while the job
runs, so a long epoch does not look dead. SIGTERM (sent by the consumer on shutdown) sets a
shutdown flag; while ``fit`` runs it also interrupts it at once (KeyboardInterrupt), but never
inside the publish.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from models import MLPClassifier
from models.tabular import Table
from service.config import Settings
from service.errors import ServiceError
from service.jobs import promotion, warm
from service.jobs.datasets import dataset_path, load_dataset, remove_dataset
from service.jobs.evaluation import HeldOut, hold_out
from service.jobs.interrupts import JobTimedOut, TaskInterrupts
from service.jobs.liveness import Heartbeat
from service.jobs.records import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobStore, error
from service.jobs.reporting import ProgressWriter, record_end, report_end, retrying
from service.jobs.stores import DEFAULT_NAMESPACE, make_job_store
from service.jobs.trials import save_trial
from service.store import ModelStore, PublishWithdrawn

log = logging.getLogger("nnserve.jobs")
FLUSH_INTERVAL = 0.2  # seconds between progress writes
RECORD_PATIENCE = 600.0  # seconds a final state is retried while the job store is down
_STOP_ERRORS = {
    "timeout": "training exceeded job_timeout ({timeout:g} s) after {epoch} epochs",
    "shutdown": "the worker was shut down while the job was running (after {epoch} epochs)",
    "lost": "the job was taken away from this worker (heartbeat reaped) after {epoch} epochs",
}
_STOP_TYPES = {"timeout": "timeout", "shutdown": "worker_shutdown", "lost": "worker_lost"}


def worker_id() -> str:
    """``host:parent_pid:pid`` — the consumer (parent) can find its own workers' jobs."""
    return f"{socket.gethostname()}:{os.getppid()}:{os.getpid()}"


def run_job(settings: Settings, job_id: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
    """Run one job to its end (the body of the Huey task)."""
    job_store = make_job_store(settings, namespace=namespace)
    try:
        with TaskInterrupts() as signals:
            _run(settings, job_store, job_id, signals)
    finally:
        job_store.close()


def _run(settings: Settings, job_store: JobStore, job_id: str, signals: TaskInterrupts) -> None:
    # The queue message is gone once taken: wait out a store outage rather than drop the job.
    def give_up(seconds: float) -> bool:
        return signals.requested or seconds > RECORD_PATIENCE

    try:
        job = retrying(lambda: job_store.get(job_id), f"reading job {job_id}", give_up)
    except ServiceError:
        log.warning("job %s has no record; skipping its message", job_id)
        return
    me = worker_id()
    if not retrying(lambda: job_store.transition(job_id, (QUEUED,), RUNNING, worker=me,
                                                 attempts=job["attempts"] + 1),
                    f"starting job {job_id}", give_up):
        log.info("job %s is %s, not queued; skipping", job_id, job_store.get(job_id)["status"])
        return
    log.info("job %s running on %s", job_id, me)
    beat = Heartbeat(job_store, job_id, me, settings.heartbeat_interval)
    beat.start()
    training = _Training(settings, job_store, job, signals, beat)
    try:
        training.run()
    except Exception as exc:
        log.warning("job %s failed: %s", job_id, exc, exc_info=not isinstance(exc, ValueError))
        with signals.interruptible(False):
            training.fail(*_failure(exc, "train", settings.store))
    except BaseException as exc:  # SIGTERM while training: end the job explicitly, then exit
        with signals.interruptible(False):
            training.fail(*_failure(exc, "train", settings.store))
        raise
    finally:
        training.writer.stop()
        beat.stop()
        remove_dataset(settings.store, job_id)


class _Training:
    def __init__(self, settings: Settings, job_store: JobStore, job: dict[str, Any],
                 signals: TaskInterrupts, beat: Heartbeat) -> None:
        self.settings, self.job_store, self.job, self.signals, self.beat = (
            settings, job_store, job, signals, beat)
        self.job_id = job["job_id"]
        self.history: list[dict[str, Any]] = []
        self.stop_reason: str | None = None
        self.deadline = 0.0
        self.writer = ProgressWriter(job_store, self.job_id, FLUSH_INTERVAL)
        self.ended = False
        self.held_out: HeldOut

    def progress(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {"epoch": last.get("epoch", 0), "epochs": self.job["params"]["epochs"],
                "loss": last.get("loss"), "accuracy": last.get("accuracy"),
                "val_accuracy": last.get("val_accuracy")}

    def on_epoch(self, epoch: int, metrics: dict[str, Any]) -> bool:
        with self.signals.interruptible(False):
            entry = {k: None if v is None else (int(v) if k == "epoch" else float(v))
                     for k, v in metrics.items()}
            self.history.append(entry)
            self.writer.post(entry, self.progress())
            if self.signals.requested:
                self.stop_reason = "shutdown"
            elif self.beat.lost:
                self.stop_reason = "lost"
            elif self.signals.timed_out or time.monotonic() > self.deadline:
                self.stop_reason = "timeout"
            elif self.writer.cancel_requested:
                self.stop_reason = "cancel"
            return self.stop_reason is None

    def run(self) -> None:
        start = time.monotonic()
        self.deadline = start + self.settings.job_timeout
        self.signals.arm(self.settings.job_timeout)
        self.writer.start()
        path = dataset_path(self.settings.store, self.job_id)
        try:
            data = load_dataset(path)
        except (OSError, ValueError) as exc:
            self.fail(*_failure(exc, "load", self.settings.store))
            return
        remove_dataset(self.settings.store, self.job_id)  # in memory now; never retried
        params = dict(self.job["params"])
        parent = params.pop(warm.PARAM, None)
        # Jobs queued before test_split existed hold nothing out.
        self.held_out = hold_out(data, params.pop("test_split", 0.0), params["seed"])
        clf = MLPClassifier(**params)
        parent_clf = None if parent is None else warm.load_parent(
            ModelStore(self.settings.store), self.job["model"], parent)
        try:
            with self.signals.interruptible():
                clf.fit(self.held_out.X, self.held_out.y, on_epoch=self.on_epoch,
                        feature_names=None if isinstance(data.X, Table) else data.feature_names,
                        warm_start=parent_clf, **self.held_out.encoding)
        except JobTimedOut:
            self.stop_reason = "timeout"
        self.signals.disarm()
        with self.signals.interruptible(False):
            self._finish(clf, time.monotonic() - start)

    def _give_up(self, seconds: float) -> bool:
        patience = self.settings.graceful_timeout if self.signals.requested else RECORD_PATIENCE
        return seconds > patience

    def end(self, status: str, *, report: bool = True, **fields: Any) -> bool:
        """The final transition, with the progress and the history not written yet."""
        self.ended = True
        fields = {"progress": self.progress(), "history": self.writer.stop(), **fields}
        return record_end(self.job_store, self.job_id, status, self._give_up, report=report,
                          **fields)

    def fail(self, kind: str, message: str) -> None:
        if not self.ended:
            self.end(FAILED, error=error(kind, message))

    def _finish(self, clf: MLPClassifier, seconds: float) -> None:
        if self.stop_reason is None and self.signals.timed_out:
            self.stop_reason = "timeout"
        if self.stop_reason is None and self._cancel_requested():
            self.stop_reason = "cancel"
        if self.stop_reason == "cancel":
            self.end(CANCELLED)
            return
        if self.stop_reason is not None:
            message = _STOP_ERRORS[self.stop_reason].format(
                timeout=self.settings.job_timeout, epoch=len(self.history))
            self.end(FAILED, error=error(_STOP_TYPES[self.stop_reason], message))
            return
        if self.job.get("parent"):  # a search's trial: its parent publishes the best one
            self._save_trial(clf, seconds)
        else:
            self._publish(clf, seconds)

    def _meta(self, clf: MLPClassifier, seconds: float) -> dict[str, Any]:
        meta = version_meta(clf, self.history, self.job["dataset"], self.job_id, seconds)
        meta["evaluation"] = self.held_out.evaluation(clf)
        meta["dataset"]["class_counts"] = self.held_out.class_counts(clf.classes_)
        meta["description"] = self.job.get("description")
        meta.update(warm.lineage(self.job, clf))
        return meta

    def _save_trial(self, clf: MLPClassifier, seconds: float) -> None:
        meta = self._meta(clf, seconds)
        try:
            save_trial(self.settings.store, self.job["parent"], self.job_id, clf, meta)
        except OSError as exc:
            self.end(FAILED, error=error(*_failure(exc, "publish", self.settings.store)))
            return
        self.end(SUCCEEDED, metrics=meta["metrics"])

    def _cancel_requested(self) -> bool:
        try:
            return self.writer.cancel_requested or self.job_store.cancel_requested(self.job_id)
        except Exception:  # the store is down: the commit will wait for it anyway
            return False

    def _publish(self, clf: MLPClassifier, seconds: float) -> None:
        buf = io.BytesIO()
        clf.save(buf)
        meta = self._meta(clf, seconds)
        committed: list[int] = []
        store = ModelStore(self.settings.store)

        def publish(meta: dict[str, Any], fields: dict[str, Any]) -> int:
            def commit(version: int) -> bool:  # the version is written, not yet visible
                if self.end(SUCCEEDED, report=False, model_version=version, **fields):
                    committed.append(version)
                    return True
                return False

            return store.publish(self.job["model"], buf.getvalue(), meta, commit=commit)

        try:
            if self.job.get("promote"):  # compare, publish and move the alias as one step
                version = promotion.publish_for_job(store, self.job, clf, self.held_out, meta,
                                                    publish)
            else:
                version = publish(meta, {})
        except PublishWithdrawn:
            log.warning("job %s ended before it could publish; its version was discarded",
                        self.job_id)
            return
        except (OSError, ServiceError) as exc:
            kind, message = _failure(exc, "publish", self.settings.store)
            if committed:  # the record said succeeded an instant before the version failed
                record_end(self.job_store, self.job_id, FAILED, self._give_up, (SUCCEEDED,),
                           model_version=None, error=error(kind, message))
            else:
                self.end(FAILED, error=error(kind, message))
            return
        log.info("job %s published %s version %d", self.job_id, self.job["model"], version)
        report_end(self.job_store, self.job_id)


def version_meta(clf: MLPClassifier, history: list[dict[str, Any]], dataset: dict[str, Any],
                 job_id: str | None, seconds: float) -> dict[str, Any]:
    """``meta.json`` of a version: ``clf`` trained on ``dataset`` ({rows, features, sha256})."""
    params = clf.get_params()
    best = history[-1]
    if params["early_stopping"]:  # fit restored the best epoch's weights
        key = "val_loss" if best.get("val_loss") is not None else "loss"
        best = min(history, key=lambda h: h[key])
    meta = {
        "params": params, "n_features": int(clf.n_features_in_),
        "classes": clf.classes_.tolist(), "feature_names": clf.feature_names_,
        "metrics": dict(best), "history": history,
        "dataset": {k: dataset[k] for k in ("rows", "features", "sha256")},
        "job_id": job_id, "training_seconds": round(seconds, 3),
    }
    if clf.encoder_ is not None:  # trained on tabular data: its columns and their encoding
        meta["input_schema"] = clf.input_schema()
        meta["encoding"] = {"feature_types": clf.encoder_.feature_types,
                            "max_categories": clf.encoder_.max_categories,
                            "min_frequency": clf.encoder_.min_frequency}
    return meta


def _failure(exc: BaseException, stage: str, root: Path) -> tuple[str, str]:
    """The job's error ``(type, message)`` for ``exc`` raised at ``stage``; paths in it are
    named relative to the store ``root``."""
    if isinstance(exc, KeyboardInterrupt):
        return "worker_shutdown", "the worker was shut down while the job was running"
    if isinstance(exc, OSError) and exc.errno:
        reason = f"{os.strerror(exc.errno)} ({_relative(exc.filename, root)})"
    else:
        reason = _scrub(str(exc), root)
    if stage == "load":
        return "dataset_error", f"the training data of this job is missing or unreadable: {reason}"
    if stage == "publish":
        return "store_error", f"could not write the model to the store: {reason}"
    if isinstance(exc, ValueError):
        return "invalid_data", reason
    return "internal_error", f"{type(exc).__name__}: {reason}"


def _relative(filename: object, root: Path) -> str:
    if not filename or not isinstance(filename, str | bytes | os.PathLike):
        return "store"
    path = Path(os.fsdecode(filename))
    for base in (root.resolve(), root.absolute()):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return path.name


def _scrub(text: str, root: Path) -> str:
    """``text`` with the store's absolute path left out."""
    for base in {str(root.resolve()), str(root.absolute())}:
        text = text.replace(base + os.sep, "").replace(base, "store")
    return text
