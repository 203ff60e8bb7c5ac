"""Job records: their shape, states, timestamps, and the ``JobStore`` protocol both backends meet.

A job record is a JSON object and is what ``GET /jobs/<id>`` returns::

    {"job_id", "model", "status", "progress": {"epoch", "epochs", "loss", "accuracy",
     "val_accuracy"}, "history": [...], "model_version", "error": {"type", "message"} | None,
     "params", "dataset": {"rows", "features", "classes", "sha256"}, "cancel_requested",
     "attempts", "worker", "created_at", "started_at", "finished_at", "updated_at",
     "heartbeat_at"}

Timestamps are ISO-8601 UTC strings (or None). The stores own them, on their own clock (Redis
``TIME``, SQLite's ``now``), so heartbeats from hosts whose clocks disagree compare fairly:
``updated_at`` on every write, ``started_at``/``heartbeat_at`` on entering ``running``,
``finished_at`` on entering a final state, ``heartbeat_at`` on ``heartbeat``.

``history`` is kept one entry per epoch: a ``history`` passed to ``update`` or ``transition``
adds (or replaces) those epochs, so a progress write costs the entries it adds. ``list`` and
``stale_running`` return summaries, records without ``history``; ``get`` the full record.
"""

from __future__ import annotations

import builtins  # in the store classes `list` is the listing method, not the type
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from service.errors import TooManyRequests

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
    "queued", "running", "succeeded", "failed", "cancelled")
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
ACTIVE = (QUEUED, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)

#: Fields only a store writes (``transition`` sets ``status``; the others are timestamps).
_STORE_FIELDS = {"job_id", "model", "status", "created_at"}


class IdempotencyRecord(NamedTuple):
    """What an ``Idempotency-Key`` remembers: the job it created and the request's hash."""

    job_id: str
    body_sha256: str
    created_at: float


def iso(ts: float) -> str:
    """Seconds since the epoch as an ISO-8601 UTC string with milliseconds."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def parse_iso(value: str | None) -> float | None:
    """Inverse of ``iso`` (None stays None)."""
    return None if value is None else datetime.fromisoformat(value).timestamp()


def new_job(job_id: str, model: str, params: dict[str, Any], dataset: dict[str, Any],
            now: float | None = None) -> dict[str, Any]:
    """A fresh ``queued`` record."""
    stamp = iso(time.time() if now is None else now)
    return {
        "job_id": job_id, "model": model, "status": QUEUED,
        "progress": {"epoch": 0, "epochs": params.get("epochs"), "loss": None,
                     "accuracy": None, "val_accuracy": None},
        "history": [], "model_version": None, "error": None, "params": params,
        "dataset": dataset, "cancel_requested": False, "attempts": 0, "worker": None,
        "created_at": stamp, "started_at": None, "finished_at": None, "updated_at": stamp,
        "heartbeat_at": None,
    }


def error(kind: str, message: str) -> dict[str, str]:
    """The ``error`` field of a failed job."""
    return {"type": kind, "message": message}


def transition_fields(from_states: tuple[str, ...], to_state: str, fields: dict[str, Any],
                      now: float) -> dict[str, Any]:
    """The fields a ``transition`` writes: the caller's plus status and timestamps.

    Entering a state (``to_state`` not among ``from_states``) stamps ``started_at`` and
    ``heartbeat_at`` for ``running`` and ``finished_at`` for final states; a same-state
    transition (running → running, e.g. to set ``cancel_requested``) stamps only ``updated_at``.
    """
    if to_state not in STATUSES:
        raise ValueError(f"unknown job status {to_state!r}")
    bad = _STORE_FIELDS & set(fields)
    if bad:
        raise ValueError(f"transition cannot set {sorted(bad)}")
    out = dict(fields, status=to_state, updated_at=iso(now))
    if to_state not in from_states:
        if to_state == RUNNING:
            out.setdefault("started_at", iso(now))
            out.setdefault("heartbeat_at", iso(now))
        elif to_state in FINISHED:
            out.setdefault("finished_at", iso(now))
    return out


def queue_full(model: str, active: int, limit: int, retry_after: int = 1) -> TooManyRequests:
    """The 429 a store raises when ``create`` finds ``model`` already at ``limit`` active jobs.

    ``JobService`` replaces the ``Retry-After`` with one derived from its settings.
    """
    return TooManyRequests(
        f"model {model!r} has {active} queued or running jobs (limit {limit}); retry later",
        headers={"Retry-After": str(retry_after)})


def update_fields(fields: dict[str, Any], now: float) -> dict[str, Any]:
    """The fields an ``update`` writes (never status or identity)."""
    bad = _STORE_FIELDS & set(fields)
    if bad:
        raise ValueError(f"update cannot set {sorted(bad)}; use transition")
    return dict(fields, updated_at=iso(now))


class JobStore(Protocol):
    """Where job records live; every method is safe across processes and threads."""

    def create(self, job: dict[str, Any], *, idempotency_key: str | None = None,
               body_sha256: str | None = None,
               max_active: int | None = None) -> IdempotencyRecord | None:
        """Insert ``job``; with a key, atomically claim it first.

        Returns None when created, or the key's live record (nothing is created) when the key
        is taken. With ``max_active``, raises ``TooManyRequests`` (see ``queue_full``; nothing
        is created, the key stays free) when ``job["model"]`` already has that many queued or
        running jobs. The key lookup, the count and the insert are one atomic step, in that
        order: a replayed key returns its record even when the model is at its limit, and
        concurrent creates never exceed the limit.
        """

    def get(self, job_id: str) -> dict[str, Any]:
        """The full record, history included; ``NotFound`` "job X" when absent."""

    def list(self, model: str | None = None, status: str | None = None, limit: int = 50,
             offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """A page of summaries (records without history) newest first, and the total matching."""

    def transition(self, job_id: str, from_states: tuple[str, ...] | builtins.list[str],
                   to_state: str, **fields: Any) -> bool:
        """Compare-and-set: move to ``to_state`` and write ``fields`` only if the status is one
        of ``from_states``. False when it is not (or the job does not exist)."""

    def update(self, job_id: str, **fields: Any) -> bool:
        """Write ``fields`` (progress, new history entries...) whatever the status; False if
        absent."""

    def compare_and_update(self, job_id: str, field: str, expected: Any, **fields: Any) -> bool:
        """Write ``fields`` only if the record's ``field`` equals ``expected`` (a JSON value),
        atomically; False when it does not (or the job does not exist). A search's parent
        record is advanced so, by its ``rev``, from any process."""

    def announce_worker(self, worker: str, slots: int, ttl: float) -> None:
        """Say that consumer ``worker`` runs ``slots`` training processes, for ``ttl`` seconds
        (``slots`` 0 withdraws it)."""

    def worker_slots(self) -> int:
        """Training processes of the consumers whose announcement has not expired."""

    def heartbeat(self, job_id: str, worker_id: str) -> bool:
        """Stamp ``heartbeat_at`` if the job is running on ``worker_id``; False otherwise."""

    def cancel_requested(self, job_id: str) -> bool:
        """Whether cancellation was requested (a cheap read for the per-epoch check)."""

    def count_active(self, model: str) -> int:
        """Queued plus running jobs of ``model``."""

    def stale_running(self, older_than_s: float) -> builtins.list[dict[str, Any]]:
        """Running jobs (summaries) whose last heartbeat is more than ``older_than_s`` seconds
        old by the store's clock."""

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        """The live (not expired) record of an Idempotency-Key."""

    def ping(self) -> None:
        """Raise if the backend is unreachable."""

    def now(self) -> float:
        """The store's clock, in seconds since the epoch: the one every heartbeat age uses."""

    def close(self) -> None:
        """Release this thread's connection (the next call opens a new one)."""
