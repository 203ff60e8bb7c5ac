"""``SqliteJobStore``: job records in ``<store>/jobs.sqlite3`` (WAL, busy timeout).

Connections are opened lazily, one per (process, thread): gunicorn and Huey fork after import,
and a SQLite connection must never be used on both sides of a fork. Connections a process
inherited from its parent stay referenced (never closed, never garbage-collected) so the child
cannot disturb the parent's locks. Read-modify-write operations run in ``BEGIN IMMEDIATE``
transactions, which makes ``transition`` a true compare-and-set across processes.

A job's history lives in its own table, one row per epoch, so a progress write costs the
entries it adds, not the epochs so far. Timestamps come from SQLite's own clock.
"""

from __future__ import annotations

import builtins  # in the store classes `list` is the listing method, not the type
import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service.errors import NotFound
from service.jobs.records import (
    ACTIVE,
    RUNNING,
    IdempotencyRecord,
    iso,
    parse_iso,
    queue_full,
    transition_fields,
    update_fields,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, model TEXT NOT NULL, status TEXT NOT NULL,
    worker TEXT, created_ts REAL NOT NULL, hb_ts REAL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_ts);
CREATE INDEX IF NOT EXISTS jobs_model ON jobs (model, created_ts);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_ts);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, job_id TEXT NOT NULL, body_sha256 TEXT NOT NULL,
    created_ts REAL NOT NULL);
CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency (created_ts);
CREATE TABLE IF NOT EXISTS history (
    job_id TEXT NOT NULL, epoch INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (job_id, epoch)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS workers (
    worker TEXT PRIMARY KEY, slots INTEGER NOT NULL, expires_ts REAL NOT NULL);
"""
_NOW = "((julianday('now') - 2440587.5) * 86400.0)"  # seconds since the epoch



class SqliteJobStore:
    """Job records in one SQLite file; see the module docstring."""

    def __init__(self, path: Path | str, *, idempotency_ttl: float = 86400.0,
                 busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.idempotency_ttl = idempotency_ttl
        self.busy_timeout = busy_timeout
        self._conns: dict[tuple[int, int], sqlite3.Connection] = {}

    # -- connections ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        key = (os.getpid(), threading.get_ident())
        conn = self._conns.get(key)
        if conn is None:
            conn = self._connect()
            self._conns[key] = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        deadline = time.monotonic() + self.busy_timeout
        while True:  # switching a new file to WAL needs a write lock; retry under contention
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(_SCHEMA)  # idempotent DDL
        return conn

    def close(self) -> None:
        conn = self._conns.pop((os.getpid(), threading.get_ident()), None)
        if conn is not None:
            conn.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def now(self) -> float:
        return self._conn().execute(f"SELECT {_NOW}").fetchone()[0]

    @staticmethod
    def _append_history(conn: sqlite3.Connection, job_id: str,
                        entries: list[dict[str, Any]]) -> None:
        conn.executemany("INSERT OR REPLACE INTO history VALUES (?, ?, ?)",
                         [(job_id, int(e["epoch"]), json.dumps(e)) for e in entries])

    # -- records -------------------------------------------------------------------------------
    def create(self, job: dict[str, Any], *, idempotency_key: str | None = None,
               body_sha256: str | None = None,
               max_active: int | None = None) -> IdempotencyRecord | None:
        with self._tx() as conn:  # BEGIN IMMEDIATE: the count below holds until COMMIT
            now = conn.execute(f"SELECT {_NOW}").fetchone()[0]
            if idempotency_key is not None:
                conn.execute("DELETE FROM idempotency WHERE created_ts < ?",
                             (now - self.idempotency_ttl,))
                row = conn.execute("SELECT job_id, body_sha256, created_ts FROM idempotency "
                                   "WHERE key = ?", (idempotency_key,)).fetchone()
                if row is not None:
                    return IdempotencyRecord(*row)
            if max_active is not None:
                active = conn.execute(
                    "SELECT count(*) FROM jobs WHERE model = ? AND status IN (?, ?)",
                    (job["model"], *ACTIVE)).fetchone()[0]
                if active >= max_active:
                    raise queue_full(job["model"], active, max_active)  # rolls back
            if idempotency_key is not None:
                conn.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?)",
                             (idempotency_key, job["job_id"], body_sha256 or "", now))
            conn.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (job["job_id"], job["model"], job["status"], job.get("worker"), now,
                          None, json.dumps(job)))
        return None

    def get(self, job_id: str) -> dict[str, Any]:
        conn = self._conn()
        conn.execute("BEGIN")  # the record and its history as of one moment
        try:
            row = conn.execute("SELECT doc FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            hist = conn.execute("SELECT doc FROM history WHERE job_id = ? ORDER BY epoch",
                                (job_id,)).fetchall()
        finally:
            conn.execute("COMMIT")
        if row is None:
            raise NotFound(f"job {job_id} not found")
        job = json.loads(row[0])
        if hist:
            job["history"] = [json.loads(h[0]) for h in hist]
        job.setdefault("history", [])
        return job

    def list(self, model: str | None = None, status: str | None = None, limit: int = 50,
             offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        where, args = [], []
        if model is not None:
            where.append("model = ?")
            args.append(model)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        conn = self._conn()
        total = conn.execute(f"SELECT count(*) FROM jobs {clause}", args).fetchone()[0]
        rows = conn.execute(f"SELECT doc FROM jobs {clause} ORDER BY created_ts DESC, rowid DESC "
                            "LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        return [_summary(r[0]) for r in rows], total

    def transition(self, job_id: str, from_states: tuple[str, ...] | builtins.list[str],
                   to_state: str, **fields: Any) -> bool:
        from_states = tuple(from_states)
        entries = fields.pop("history", None) or []
        with self._tx() as conn:
            now = conn.execute(f"SELECT {_NOW}").fetchone()[0]
            changes = transition_fields(from_states, to_state, fields, now)
            row = conn.execute("SELECT status, hb_ts, doc FROM jobs WHERE job_id = ?",
                               (job_id,)).fetchone()
            if row is None or row[0] not in from_states:
                return False
            self._append_history(conn, job_id, entries)
            doc = {**json.loads(row[2]), **changes}
            hb_ts = parse_iso(doc.get("heartbeat_at")) if to_state == RUNNING else None
            conn.execute("UPDATE jobs SET status = ?, worker = ?, hb_ts = ?, doc = ? "
                         "WHERE job_id = ?",
                         (to_state, doc.get("worker"), hb_ts, json.dumps(doc), job_id))
        return True

    def update(self, job_id: str, **fields: Any) -> bool:
        entries = fields.pop("history", None) or []
        with self._tx() as conn:
            changes = update_fields(fields, conn.execute(f"SELECT {_NOW}").fetchone()[0])
            row = conn.execute("SELECT doc FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return False
            self._append_history(conn, job_id, entries)
            doc = {**json.loads(row[0]), **changes}
            conn.execute("UPDATE jobs SET worker = ?, doc = ? WHERE job_id = ?",
                         (doc.get("worker"), json.dumps(doc), job_id))
        return True

    def compare_and_update(self, job_id: str, field: str, expected: Any, **fields: Any) -> bool:
        with self._tx() as conn:
            changes = update_fields(fields, conn.execute(f"SELECT {_NOW}").fetchone()[0])
            row = conn.execute("SELECT doc FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return False
            doc = json.loads(row[0])
            if doc.get(field) != expected:
                return False
            doc.update(changes)
            conn.execute("UPDATE jobs SET worker = ?, doc = ? WHERE job_id = ?",
                         (doc.get("worker"), json.dumps(doc), job_id))
        return True

    def announce_worker(self, worker: str, slots: int, ttl: float) -> None:
        with self._tx() as conn:
            if slots <= 0:
                conn.execute("DELETE FROM workers WHERE worker = ?", (worker,))
                return
            conn.execute(f"INSERT OR REPLACE INTO workers VALUES (?, ?, {_NOW} + ?)",
                         (worker, int(slots), ttl))

    def worker_slots(self) -> int:
        row = self._conn().execute(
            f"SELECT coalesce(sum(slots), 0) FROM workers WHERE expires_ts > {_NOW}").fetchone()
        return int(row[0])

    def heartbeat(self, job_id: str, worker_id: str) -> bool:
        now = self.now()
        cur = self._conn().execute(
            "UPDATE jobs SET hb_ts = ?, doc = json_set(doc, '$.heartbeat_at', ?) "
            "WHERE job_id = ? AND status = ? AND worker = ?",
            (now, iso(now), job_id, RUNNING, worker_id))
        return cur.rowcount == 1

    def cancel_requested(self, job_id: str) -> bool:
        row = self._conn().execute(
            "SELECT json_extract(doc, '$.cancel_requested') FROM jobs WHERE job_id = ?",
            (job_id,)).fetchone()
        return bool(row and row[0])

    def count_active(self, model: str) -> int:
        return self._conn().execute(
            "SELECT count(*) FROM jobs WHERE model = ? AND status IN (?, ?)",
            (model, *ACTIVE)).fetchone()[0]

    def stale_running(self, older_than_s: float) -> builtins.list[dict[str, Any]]:
        rows = self._conn().execute(
            f"SELECT doc FROM jobs WHERE status = ? AND (hb_ts IS NULL OR hb_ts < {_NOW} - ?) "
            "ORDER BY created_ts", (RUNNING, older_than_s)).fetchall()
        return [_summary(r[0]) for r in rows]

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        row = self._conn().execute(
            "SELECT job_id, body_sha256, created_ts FROM idempotency "
            f"WHERE key = ? AND created_ts >= {_NOW} - ?", (key, self.idempotency_ttl)
        ).fetchone()
        return None if row is None else IdempotencyRecord(*row)

    def ping(self) -> None:
        self._conn().execute("SELECT count(*) FROM jobs WHERE 0").fetchone()


def _summary(doc: str) -> dict[str, Any]:
    """A record without its history (records written before the history table kept it)."""
    job = json.loads(doc)
    job.pop("history", None)
    return job
