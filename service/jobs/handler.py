"""``JobService``: the transport-free handler of training jobs the HTTP layer calls.

It validates a request, writes the dataset, creates the ``queued`` record and enqueues the job
id; it reads, lists and cancels jobs. It never trains (``service.jobs.task`` does, in a worker).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import uuid
import weakref
from typing import Any

from huey import Huey

from service.config import Settings
from service.errors import (
    Conflict,
    ServiceUnavailable,
    TooManyRequests,
    field_error,
)
from service.jobs import promotion, validation, warm
from service.jobs.datasets import dataset_path, remove_dataset, write_dataset
from service.jobs.events import job_ended
from service.jobs.liveness import Reaper
from service.jobs.queue import enqueue_job, make_huey, revoke_job, searcher
from service.jobs.records import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    STATUSES,
    IdempotencyRecord,
    JobStore,
    error,
    new_job,
    queue_full,
)
from service.jobs.search import Searcher
from service.jobs.search_state import KIND as SEARCH
from service.jobs.search_state import plan_search, search_record
from service.jobs.stores import DEFAULT_NAMESPACE, make_job_store
from service.names import validate_model_name

log = logging.getLogger("nnserve.jobs")
MAX_KEY_LENGTH = 255
MAX_PAGE = 500


class JobService:
    """Submit, read, list and cancel training jobs.

    ``job_store`` and ``huey`` default to the ones ``settings`` selects, created lazily (and
    again after a fork) so the object can be built before gunicorn forks. With ``reap`` (the
    API's), each process that uses it also runs a background ``Reaper``, so a job whose worker
    died is failed even while no worker runs; reads themselves never write.
    """

    def __init__(self, settings: Settings, store: Any, job_store: JobStore | None = None,
                 huey: Huey | None = None, *, namespace: str = DEFAULT_NAMESPACE,
                 reap: bool = False) -> None:
        self.settings = settings
        self.store = store
        self.namespace = namespace
        self._job_store = job_store
        self._huey = huey
        self._own_huey: tuple[int, Huey] | None = None
        self._reap = reap
        self._reaper_pid: int | None = None

    @property
    def job_store(self) -> JobStore:
        if self._job_store is None:
            self._job_store = make_job_store(self.settings, namespace=self.namespace)
        if self._reap and self._reaper_pid != os.getpid():
            self._reaper_pid = os.getpid()
            reaper = Reaper(self._job_store, self.settings, also=lambda: self.searcher.sweep())
            reaper.start()
            weakref.finalize(self, reaper.stop, wait=False)
        return self._job_store

    @property
    def huey(self) -> Huey:
        if self._huey is not None:
            return self._huey
        if self._own_huey is None or self._own_huey[0] != os.getpid():
            self._own_huey = (os.getpid(), make_huey(self.settings, namespace=self.namespace))
        return self._own_huey[1]

    @property
    def searcher(self) -> Searcher:
        return searcher(self.settings, self.job_store, self.huey)

    # -- submit --------------------------------------------------------------------------------
    def submit(self, model: str, X: Any, y: Any, params: dict[str, Any] | None, *,
               feature_names: list[str] | None = None, idempotency_key: str | None = None,
               body_sha256: str | None = None, label_column: str | None = None,
               description: str | None = None, promote: dict[str, Any] | None = None,
               key_id: str | None = None, search: Any = None, strategy: Any = None,
               budget: Any = None) -> tuple[dict[str, Any], bool]:
        """Queue a training job; ``(job, created)``, ``created`` False for a replayed key.

        With ``search`` (a space or ``"auto"``), ``strategy`` and ``budget``, the job is a
        hyper-parameter search (``service.jobs.search``): its trials are queued as child jobs.

        ``X`` is rows of numbers (or an array), rows of cells with ``feature_names``, a list of
        records (labels in ``y`` or in each record's ``label_column``), or a ``Table`` (a CSV);
        see ``validation.check_data``. ``description`` (the model's intended use, for its
        card) is kept in the job and the version's meta. ``promote`` (``alias``, ``metric``,
        ``min_delta``, ``confident``) gates a move of the alias to the new version
        (``service.jobs.promotion``); ``key_id`` is the caller's, for the alias history.

        Raises 422 (bad model name, params, data, work over ``max_train_work``, key reused with
        another body), 429 with ``Retry-After`` (too many active jobs of ``model``), 503 (queue
        unreachable).
        """
        validate_model_name(model)
        description = validation.check_description(description)
        given = set(params) if isinstance(params, dict) else set()
        params, warm_from = warm.take(params)
        params, encoding = validation.split_params(params)
        data = validation.check_data(X, y, feature_names, self.settings, encoding, label_column)
        plan = None
        if search is not None and (promote is not None or warm_from is not None):
            raise field_error("promote" if promote is not None else "params.warm_start_from",
                              "goes with a single training job, not with search")
        if search is not None:
            plan = plan_search(search, strategy, budget, given, params, self.settings)
            params = {k: v for k, v in params.items() if k in given or k not in plan["space"]}
            params["epochs"] = plan["budget"]["max_epochs"]  # each trial's most
        elif strategy is not None or budget is not None:
            raise field_error("strategy" if strategy is not None else "budget",
                              "goes with search")
        validation.check_work(params, data.rows, self.settings)
        if warm_from is not None:
            params[warm.PARAM] = warm.check_parent(self.store, model, warm_from, params,
                                                   encoding, data)
        gate = promotion.check_promote(promote, params.get("test_split", 0.0))
        if idempotency_key is not None:
            if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= \
                    MAX_KEY_LENGTH:
                raise field_error("Idempotency-Key", f"must be 1-{MAX_KEY_LENGTH} characters")
            if body_sha256 is None:
                body_sha256 = _request_sha256(model, {**params, **encoding}, data)
            taken = self.job_store.idempotency(idempotency_key)
            if taken is not None:
                return self._replay(taken, body_sha256)
        else:
            # A cheap early 429 before the dataset is written. Not for a keyed request: a
            # concurrent one with the same key may just have created the job that fills the
            # queue, and ``create`` (which checks the key before the limit) replays it.
            self._check_backpressure(model)

        job_id = uuid.uuid4().hex
        path = dataset_path(self.settings.store, job_id)
        write_dataset(path, data.X, data.y, data.feature_names, encoding)
        job = {**new_job(job_id, model, params, data.summary), "description": description}
        if gate is not None:
            job.update(promote=gate, promote_key_id=key_id, promotion=None)
        if plan is not None:
            job.update(search_record(plan))
        try:
            # The limit is enforced here, atomically with the insert: a separate count and
            # insert let concurrent submits (other threads or API processes) exceed it.
            taken = self.job_store.create(job, idempotency_key=idempotency_key,
                                          body_sha256=body_sha256,
                                          max_active=self.settings.max_queued_per_model)
        except BaseException as exc:
            path.unlink(missing_ok=True)
            if isinstance(exc, TooManyRequests):
                exc.headers = {**exc.headers, "Retry-After": str(self._retry_after())}
            raise
        if taken is not None:  # a concurrent request with the same key won
            path.unlink(missing_ok=True)
            return self._replay(taken, body_sha256 or "")
        try:
            if plan is not None:  # the parent is never queued: it starts its first trials
                self.searcher.start(job_id)
                job = self.job_store.get(job_id)
            else:
                enqueue_job(self.huey, job_id)
        except Exception as exc:
            message = f"the job queue is unreachable: {exc}"
            if self.job_store.transition(job_id, (QUEUED,), FAILED,
                                         error=error("queue_error", message)):
                job_ended(self.job_store, job_id)
            path.unlink(missing_ok=True)
            raise ServiceUnavailable(message) from exc
        log.info("job %s queued for model %s (%d rows)", job_id, model, data.rows)
        return job, True

    def _replay(self, taken: IdempotencyRecord, body_sha256: str) -> tuple[dict[str, Any], bool]:
        if taken.body_sha256 != body_sha256:
            raise field_error("Idempotency-Key", "was already used with a different request "
                                                 "body; use a new key for a new job")
        return self.get(taken.job_id), False

    def _check_backpressure(self, model: str) -> None:
        active = self.job_store.count_active(model)
        limit = self.settings.max_queued_per_model
        if active >= limit:
            raise queue_full(model, active, limit, retry_after=self._retry_after())

    def _retry_after(self) -> int:
        return max(1, math.ceil(min(30.0, 5 * self.settings.heartbeat_interval)))

    # -- read ----------------------------------------------------------------------------------
    def get(self, job_id: str) -> dict[str, Any]:
        """The full job record, history included; NotFound "job X". Never writes: a job whose
        worker died shows ``running`` until a worker's reaper fails it (``worker_lost``)."""
        return self.job_store.get(str(job_id))

    def list(self, model: str | None = None, status: str | None = None, limit: int = 50,
             offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """A page of job summaries (no history) newest first and the total matching."""
        if status is not None and status not in STATUSES:
            raise field_error("status", f"must be one of {list(STATUSES)}")
        if model is not None:
            validate_model_name(model)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise field_error("limit", f"must be an integer in [1, {MAX_PAGE}]")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise field_error("offset", "must be a non-negative integer")
        return self.job_store.list(model=model, status=status, limit=limit, offset=offset)

    # -- cancel --------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> tuple[dict[str, Any], bool]:
        """Cancel a job: ``(job, True)`` when it is cancelled now (it was queued, or already
        cancelled), ``(job, False)`` when cancellation of a running job was requested (the
        worker stops within one epoch). Conflict (409) once it succeeded or failed."""
        for _ in range(5):
            job = self.get(job_id)
            status = job["status"]
            if job.get("kind") == SEARCH and status in (QUEUED, RUNNING):
                if self.searcher.cancel(job):  # its trials now, the running ones within an epoch
                    return self.job_store.get(job["job_id"]), True
                continue
            if status == QUEUED:
                if self.job_store.transition(job["job_id"], (QUEUED,), CANCELLED,
                                             cancel_requested=True):
                    self._forget_queued(job["job_id"])
                    ended = job_ended(self.job_store, job["job_id"])
                    return ended or self.job_store.get(job["job_id"]), True
            elif status == RUNNING:
                if job["cancel_requested"] or self.job_store.transition(
                        job["job_id"], (RUNNING,), RUNNING, cancel_requested=True):
                    return self.job_store.get(job["job_id"]), False
            elif status == CANCELLED:
                return job, True
            else:
                raise Conflict(f"job {job['job_id']} already {status}")
        raise ServiceUnavailable(f"job {job_id} kept changing state; try again")

    def _forget_queued(self, job_id: str) -> None:
        remove_dataset(self.settings.store, job_id)
        try:
            revoke_job(self.huey, job_id)
        except Exception:  # the task skips non-queued jobs anyway
            log.warning("could not revoke the queue message of job %s", job_id, exc_info=True)

    # -- health --------------------------------------------------------------------------------
    def ping(self) -> tuple[bool, str]:
        """For /readyz: whether the job store and the queue answer."""
        try:
            self.job_store.ping()
        except Exception as exc:
            return False, f"job store unreachable: {exc}"
        try:
            self.huey.pending_count()
        except Exception as exc:
            return False, f"queue unreachable: {exc}"
        return True, "ok"


def _request_sha256(model: str, params: dict[str, Any], data: validation.TrainingData) -> str:
    """A request fingerprint for callers that pass no body hash."""
    doc = json.dumps({"model": model, "params": params, "data": data.sha256,
                      "feature_names": data.feature_names}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()
