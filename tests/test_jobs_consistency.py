"""What job records promise under races and skew, on both backends: a publish and a reap end a
job one way only; heartbeat ages use the store's clock; a progress write costs O(1) in the
epochs so far; reads never write; errors name no absolute path."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from service.config import Settings
from service.errors import NotFound
from service.jobs import JobService
from service.jobs.interrupts import TaskInterrupts
from service.jobs.liveness import fail_lost, finish_publishes, reap_stale
from service.jobs.records import iso
from service.jobs.redis_store import RedisJobStore
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.task import _run
from service.store import ModelStore

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"hidden_layers": [8], "epochs": 5, "batch_size": 16}


def tiny_data(rows: int = 60):
    rng = np.random.default_rng(0)
    y = np.arange(rows) % 3
    return rng.normal(size=(rows, 4)) + y[:, None] * 2.0, y


def _store(settings: Settings, ns: str, cls_sqlite=SqliteJobStore, cls_redis=RedisJobStore):
    if settings.uses_redis:
        return cls_redis(settings.queue, prefix=f"{ns}:")
    return cls_sqlite(settings.store / "jobs.sqlite3")


@pytest.fixture
def env(tmp_path, backend):
    queue, ns = backend
    settings = Settings.from_env({"store": tmp_path, "queue": queue, "heartbeat_timeout": 1.0},
                                 environ={})
    return settings, ns, JobService(settings, ModelStore(tmp_path), namespace=ns)


def _racing(settings: Settings, ns: str, when: str):
    """A job store in which a reaper (another store object, as in another process) fails the
    job just ``before`` or just ``after`` the worker's ``running → succeeded``."""
    reaper = _store(settings, ns)
    outcome: dict[str, bool] = {}

    def transition(self, job_id, from_states, to_state, **fields):
        if to_state == "succeeded" and when == "before":
            outcome["reaped"] = fail_lost(reaper, settings, reaper.get(job_id))
        ok = type(self).__mro__[1].transition(self, job_id, from_states, to_state, **fields)
        if to_state == "succeeded" and when == "after":
            outcome["reaped"] = fail_lost(reaper, settings, reaper.get(job_id))
        return ok

    sqlite_cls = type("RacingSqlite", (SqliteJobStore,), {"transition": transition})
    redis_cls = type("RacingRedis", (RedisJobStore,), {"transition": transition})
    return _store(settings, ns, sqlite_cls, redis_cls), outcome


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_publish_and_a_reap_end_the_job_one_way(env, when):
    settings, ns, svc = env
    X, y = tiny_data()
    job, _ = svc.submit("iris", X, y, SMALL)
    store, outcome = _racing(settings, ns, when)
    with TaskInterrupts() as signals:
        _run(settings, store, job["job_id"], signals)
    end = svc.get(job["job_id"])
    models = ModelStore(settings.store)
    if when == "before":  # the reaper won: no version may exist
        assert outcome["reaped"] and end["status"] == "failed"
        assert end["error"]["type"] == "worker_lost" and end["model_version"] is None
        with pytest.raises(NotFound):
            models.versions("iris")
    else:  # the publish won: the reaper changes nothing
        assert not outcome["reaped"]
        assert end["status"] == "succeeded" and end["error"] is None
        assert models.versions("iris") == [end["model_version"]] == [1]
    assert not [p for p in (settings.store / "models").rglob(".tmp-*")]


def test_heartbeat_ages_use_the_store_clock_not_the_workers(env, monkeypatch):
    settings, ns, svc = env
    X, y = tiny_data()
    job, _ = svc.submit("iris", X, y, SMALL)
    jid, store = job["job_id"], svc.job_store
    assert store.transition(jid, ("queued",), "running", worker="w1")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 300)  # a worker 5 minutes behind
    assert store.heartbeat(jid, "w1")
    monkeypatch.setattr(time, "time", lambda: real() + 300)  # a reaper 5 minutes ahead
    assert reap_stale(store, settings) == []
    monkeypatch.setattr(time, "time", real)
    assert reap_stale(store, settings) == []
    assert svc.get(jid)["status"] == "running"
    assert abs(store.now() - real()) < 5  # the store's clock is a real one
    time.sleep(settings.heartbeat_timeout + 0.3)  # and a job that stops beating is reaped
    assert reap_stale(store, settings) == [jid]


def _record_bytes(store, job_id: str) -> int:
    """What a progress write rewrites: the record without its per-epoch history."""
    if isinstance(store, SqliteJobStore):
        return store._conn().execute("SELECT length(doc) FROM jobs WHERE job_id = ?",
                                     (job_id,)).fetchone()[0]
    return sum(len(k) + len(v) for k, v in store.redis.hgetall(store._job(job_id)).items())


def test_a_progress_write_costs_the_same_at_any_epoch(env):
    settings, ns, svc = env
    X, y = tiny_data()
    job, _ = svc.submit("iris", X, y, {**SMALL, "epochs": 600})
    jid, store = job["job_id"], svc.job_store
    sizes = {}
    for epoch in range(1, 601):
        entry = {"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 0.5}
        progress = {"epoch": epoch, "epochs": 600, "loss": 1.0 / epoch, "accuracy": 0.5,
                    "val_accuracy": None}
        assert store.update(jid, progress=progress, history=[entry])
        if epoch in (1, 600):
            sizes[epoch] = _record_bytes(store, jid)
    assert sizes[600] <= sizes[1] + 64  # digits of numbers, never 600 entries (~30 KB)
    full = svc.get(jid)
    assert [e["epoch"] for e in full["history"]] == list(range(1, 601))
    assert store.update(jid, history=[{"epoch": 600, "loss": 0.0, "accuracy": 1.0}])
    assert svc.get(jid)["history"][-1]["loss"] == 0.0  # a retried entry replaces, never repeats
    jobs, _ = svc.list()
    assert "history" not in jobs[0] and jobs[0]["progress"]["epoch"] == 600


def test_a_failed_job_names_no_absolute_path(env):
    settings, ns, svc = env
    X, y = tiny_data()
    job, _ = svc.submit("iris", X, y, SMALL)
    (settings.store / "datasets" / f"{job['job_id']}.npz").unlink()
    with TaskInterrupts() as signals:
        _run(settings, svc.job_store, job["job_id"], signals)
    end = svc.get(job["job_id"])
    assert end["error"]["type"] == "dataset_error", end["error"]
    assert str(settings.store) not in end["error"]["message"]
    assert f"datasets/{job['job_id']}.npz" in end["error"]["message"]


def test_reading_a_stale_job_answers_while_the_store_cannot_be_written(client, app):
    store_dir = app.config["NNSERVE"].store
    X, y = tiny_data()
    body = {"model": "iris", "data": {"features": X.tolist(), "labels": y.tolist()}}
    job = client.post("/train", json=body).get_json()
    jobs = SqliteJobStore(store_dir / "jobs.sqlite3")
    jobs.transition(job["job_id"], ("queued",), "running", worker="gone:1:2",
                    heartbeat_at=iso(time.time() - 600))
    lock = sqlite3.connect(store_dir / "jobs.sqlite3", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # as a full disk would: no write can succeed
    try:
        t0 = time.monotonic()
        resp = client.get(f"/jobs/{job['job_id']}")
        listing = client.get("/jobs")
        elapsed = time.monotonic() - t0
    finally:
        lock.execute("ROLLBACK")
    assert resp.status_code == 200 and resp.get_json()["status"] == "running"
    assert "history" in resp.get_json()
    assert listing.status_code == 200 and elapsed < 3.0
    assert "history" not in listing.get_json()["jobs"][0]
    assert jobs.get(job["job_id"])["status"] == "running"


DIES_AFTER_COMMIT = """
import json, os, sys
from service.config import Settings
from service.jobs.interrupts import TaskInterrupts
from service.jobs.redis_store import RedisJobStore
from service.jobs.sqlite_store import SqliteJobStore
from service.jobs.task import _run

settings = Settings.from_env(json.loads(sys.argv[1]), environ={})
base = RedisJobStore if settings.uses_redis else SqliteJobStore

class DiesAfterCommit(base):
    def transition(self, job_id, from_states, to_state, **fields):
        ok = super().transition(job_id, from_states, to_state, **fields)
        if to_state == "succeeded":
            os._exit(9)  # as a SIGKILL between the commit and the version's rename
        return ok

where = (settings.queue, ) if settings.uses_redis else (settings.store / "jobs.sqlite3", )
kw = {"prefix": sys.argv[2] + ":"} if settings.uses_redis else {}
with TaskInterrupts() as signals:
    _run(settings, DiesAfterCommit(*where, **kw), sys.argv[3], signals)
"""


def test_a_worker_killed_between_commit_and_rename_has_its_version_put_in_place(env):
    settings, ns, svc = env
    X, y = tiny_data()
    job, _ = svc.submit("iris", X, y, SMALL)
    overrides = json.dumps({"store": str(settings.store), "queue": settings.queue})
    died = subprocess.run([sys.executable, "-c", DIES_AFTER_COMMIT, overrides, ns,
                           job["job_id"]], cwd=ROOT, capture_output=True, text=True)
    assert died.returncode == 9, died.stderr
    end = svc.get(job["job_id"])
    assert end["status"] == "succeeded" and end["model_version"] == 1
    models = ModelStore(settings.store)
    with pytest.raises(NotFound):  # the record is ahead of the store ...
        models.versions("iris")
    assert finish_publishes(svc.job_store, settings) == ["iris/1"]  # ... until a reaper pass
    assert models.versions("iris") == [1]
    assert models.meta("iris", 1)["job_id"] == job["job_id"]
    assert models.recover() == [] and finish_publishes(svc.job_store, settings) == []


def test_a_commit_whose_answer_was_lost_still_publishes(env):
    # the store applied running -> succeeded but the worker saw an error (a dropped connection)
    settings, ns, svc = env

    def transition(self, job_id, from_states, to_state, **fields):
        ok = type(self).__mro__[1].transition(self, job_id, from_states, to_state, **fields)
        if to_state == "succeeded" and not getattr(self, "dropped", False):
            self.dropped = True
            raise ConnectionError("connection reset after the write")
        return ok

    store = _store(settings, ns, type("Lossy", (SqliteJobStore,), {"transition": transition}),
                   type("LossyRedis", (RedisJobStore,), {"transition": transition}))
    X, y = tiny_data()
    job, _ = svc.submit("iris", X, y, SMALL)
    with TaskInterrupts() as signals:
        _run(settings, store, job["job_id"], signals)
    end = svc.get(job["job_id"])
    assert store.dropped and end["status"] == "succeeded"
    assert ModelStore(settings.store).versions("iris") == [end["model_version"]] == [1]
