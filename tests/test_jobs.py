"""JobService without a worker: validation, idempotency, back-pressure, cancel, reads."""

from __future__ import annotations

import os
import socket
import threading
import time

import numpy as np
import pytest

from service.config import Settings
from service.errors import Conflict, NotFound, TooManyRequests, Unprocessable
from service.jobs import JobService
from service.jobs.datasets import sweep_datasets
from service.jobs.liveness import reap_stale
from service.jobs.records import iso
from service.jobs.worker import end_own_jobs
from service.store import ModelStore


def tiny_data(rows: int = 60, classes: int = 3, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % classes
    X = rng.normal(size=(rows, features)) + y[:, None] * 2.0
    return X, y


@pytest.fixture
def make_service(tmp_path, backend):
    queue, ns = backend

    def make(**overrides) -> JobService:
        settings = Settings.from_env({"store": tmp_path, "queue": queue, **overrides},
                                     environ={})
        return JobService(settings, ModelStore(settings.store), namespace=ns)

    return make


@pytest.fixture
def svc(make_service):
    return make_service()


def _errors(excinfo) -> dict:
    return excinfo.value.errors


def test_submit_creates_queued_job_and_dataset(svc, tmp_path):
    X, y = tiny_data()
    job, created = svc.submit("iris", X, y, {"epochs": 5, "hidden_layers": [8]},
                              feature_names=["a", "b", "c", "d"])
    assert created and job["status"] == "queued"
    assert job["params"]["epochs"] == 5 and job["params"]["hidden_layers"] == [8]
    assert job["params"]["optimizer"] == "adam"  # the full effective params are recorded
    assert job["dataset"]["rows"] == 60 and job["dataset"]["features"] == 4
    assert job["dataset"]["classes"] == 3 and len(job["dataset"]["sha256"]) == 64
    assert job["progress"] == {"epoch": 0, "epochs": 5, "loss": None, "accuracy": None,
                               "val_accuracy": None}
    assert job["model_version"] is None and job["error"] is None and job["attempts"] == 0
    assert (tmp_path / "datasets" / f"{job['job_id']}.npz").is_file()
    assert svc.get(job["job_id"]) == job
    summary = {k: v for k, v in job.items() if k != "history"}  # listings carry no history
    assert svc.list() == ([summary], 1)
    assert svc.ping() == (True, "ok")


@pytest.mark.parametrize("params, field", [
    ({"nope": 1}, "params.nope"),
    ({"learning_rate": -1}, "params.learning_rate"),
    ({"hidden_layers": [0]}, "params.hidden_layers"),
    ({"activation": "step"}, "params.activation"),
    ({"epochs": "many"}, "params.epochs"),
    ({"epochs": 100_000}, "params.epochs"),  # 100000 × 60 rows > max_train_work
])
def test_bad_params_are_422_naming_the_param(make_service, params, field):
    svc = make_service(max_train_work=1_000_000)
    X, y = tiny_data()
    with pytest.raises(Unprocessable) as excinfo:
        svc.submit("iris", X, y, params)
    assert field in _errors(excinfo)
    assert svc.list() == ([], 0)


def test_bad_data_is_422_naming_the_field(svc):
    X, y = tiny_data()
    cases = [
        (X, np.zeros(60, dtype=int), "data.labels"),  # one class
        (X, y[:-1], "data.labels"),  # length mismatch
        (np.where(np.eye(60, 4) > 0, np.nan, X), y, "data.features"),
        (np.full((60, 4), np.inf), y, "data.features"),
        (X[0], y, "data.features"),  # 1-D
    ]
    for bad_X, bad_y, field in cases:
        with pytest.raises(Unprocessable) as excinfo:
            svc.submit("iris", bad_X, bad_y, {})
        assert field in _errors(excinfo), (field, excinfo.value.detail)
    with pytest.raises(Unprocessable) as excinfo:
        svc.submit("iris", X, y, {}, feature_names=["a"])
    assert "data.feature_names" in _errors(excinfo)
    with pytest.raises(Unprocessable) as excinfo:
        svc.submit("../etc", X, y, {})
    assert "model" in _errors(excinfo)


def test_idempotency_key_replays_or_conflicts(svc, tmp_path):
    X, y = tiny_data()
    first, created = svc.submit("iris", X, y, {"epochs": 2}, idempotency_key="k-1",
                                body_sha256="a" * 64)
    assert created
    again, created = svc.submit("iris", X, y, {"epochs": 2}, idempotency_key="k-1",
                                body_sha256="a" * 64)
    assert not created and again["job_id"] == first["job_id"]
    with pytest.raises(Unprocessable) as excinfo:
        svc.submit("iris", X, y, {"epochs": 3}, idempotency_key="k-1", body_sha256="b" * 64)
    assert "Idempotency-Key" in _errors(excinfo)
    assert svc.list()[1] == 1
    assert len(list((tmp_path / "datasets").glob("*.npz"))) == 1
    other, created = svc.submit("iris", X, y, {"epochs": 2}, idempotency_key="k-2",
                                body_sha256="a" * 64)
    assert created and other["job_id"] != first["job_id"]


def test_backpressure_is_429_with_retry_after(make_service):
    svc = make_service(max_queued_per_model=2)
    X, y = tiny_data()
    first, _ = svc.submit("iris", X, y, {})
    svc.submit("iris", X, y, {})
    with pytest.raises(TooManyRequests) as excinfo:
        svc.submit("iris", X, y, {})
    assert excinfo.value.status == 429 and int(excinfo.value.headers["Retry-After"]) >= 1
    svc.submit("digits", X, y, {})  # the limit is per model
    svc.cancel(first["job_id"])
    svc.submit("iris", X, y, {})  # a finished job frees its slot


def test_queue_limit_holds_when_the_early_count_is_stale(make_service, tmp_path):
    """F3: the store enforces the limit atomically with the insert, whatever the early count
    said (here it always says 0, as when concurrent submits all count before any inserts)."""
    svc = make_service(max_queued_per_model=2)
    svc.job_store.count_active = lambda model: 0
    X, y = tiny_data()
    svc.submit("iris", X, y, {})
    svc.submit("iris", X, y, {})
    with pytest.raises(TooManyRequests) as excinfo:
        svc.submit("iris", X, y, {})
    assert int(excinfo.value.headers["Retry-After"]) >= 1
    with pytest.raises(TooManyRequests):  # a keyed submit skips the early count altogether
        svc.submit("iris", X, y, {}, idempotency_key="late", body_sha256="c" * 64)
    assert svc.job_store.idempotency("late") is None  # a refused submit claims no key
    assert svc.list()[1] == 2
    assert len(list((tmp_path / "datasets").glob("*.npz"))) == 2  # refused datasets removed


def test_replayed_key_returns_its_job_even_at_the_limit(make_service, tmp_path):
    svc = make_service(max_queued_per_model=1)
    X, y = tiny_data()
    first, created = svc.submit("iris", X, y, {}, idempotency_key="k", body_sha256="a" * 64)
    assert created
    again, created = svc.submit("iris", X, y, {}, idempotency_key="k", body_sha256="a" * 64)
    assert not created and again["job_id"] == first["job_id"]
    with pytest.raises(TooManyRequests):
        svc.submit("iris", X, y, {}, idempotency_key="k2", body_sha256="a" * 64)
    assert len(list((tmp_path / "datasets").glob("*.npz"))) == 1


def test_concurrent_submits_never_exceed_the_limit(make_service, tmp_path):
    services = [make_service(max_queued_per_model=3) for _ in range(8)]
    X, y = tiny_data()
    barrier, outcomes = threading.Barrier(len(services)), []

    def submit(s):
        barrier.wait()
        try:
            s.submit("iris", X, y, {})
            outcomes.append("created")
        except TooManyRequests:
            outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created"] * 3 + ["refused"] * 5
    assert services[0].list(model="iris")[1] == 3
    assert len(list((tmp_path / "datasets").glob("*.npz"))) == 3


def _cancelled_count() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("nnserve_training_jobs_total", {"status": "cancelled"}) or 0


def test_cancel_queued_at_once_and_again(svc, tmp_path):
    X, y = tiny_data()
    job, _ = svc.submit("iris", X, y, {})
    before = _cancelled_count()
    cancelled, done = svc.cancel(job["job_id"])
    assert done and cancelled["status"] == "cancelled" and cancelled["finished_at"]
    assert _cancelled_count() == before + 1  # reported once to the metrics
    assert not (tmp_path / "datasets" / f"{job['job_id']}.npz").exists()
    assert svc.cancel(job["job_id"]) == (cancelled, True)
    assert _cancelled_count() == before + 1
    with pytest.raises(NotFound, match="job nope"):
        svc.cancel("nope")


def test_cancel_running_requests_and_finished_conflicts(svc):
    X, y = tiny_data()
    job, _ = svc.submit("iris", X, y, {})
    jid = job["job_id"]
    assert svc.job_store.transition(jid, ("queued",), "running", worker="w")
    requested, done = svc.cancel(jid)
    assert not done and requested["status"] == "running" and requested["cancel_requested"]
    assert svc.job_store.transition(jid, ("running",), "succeeded", model_version=1)
    with pytest.raises(Conflict, match=f"job {jid} already succeeded") as excinfo:
        svc.cancel(jid)
    assert excinfo.value.status == 409


def test_reads_never_reap_the_reaper_does(make_service):
    svc = make_service(heartbeat_timeout=5)
    X, y = tiny_data()
    job, _ = svc.submit("iris", X, y, {})
    jid = job["job_id"]
    svc.job_store.transition(jid, ("queued",), "running", worker="host:1:2",
                             heartbeat_at=iso(time.time() - 60))
    before = svc.job_store.get(jid)
    assert svc.get(jid) == before and svc.list()[0][0]["status"] == "running"
    assert svc.job_store.get(jid) == before  # nothing written by the reads
    assert reap_stale(svc.job_store, svc.settings) == [jid]
    got = svc.get(jid)
    assert got["status"] == "failed" and got["error"]["type"] == "worker_lost"
    assert "host:1:2" in got["error"]["message"] and "60" in got["error"]["message"]


def test_list_validates_and_filters(svc):
    X, y = tiny_data()
    a, _ = svc.submit("a", X, y, {})
    b, _ = svc.submit("b", X, y, {})
    svc.cancel(a["job_id"])
    assert [j["job_id"] for j in svc.list()[0]] == [b["job_id"], a["job_id"]]
    assert [j["job_id"] for j in svc.list(status="cancelled")[0]] == [a["job_id"]]
    assert svc.list(model="b", status="cancelled") == ([], 0)
    for kwargs, field in [({"status": "done"}, "status"), ({"limit": 0}, "limit"),
                          ({"offset": -1}, "offset")]:
        with pytest.raises(Unprocessable) as excinfo:
            svc.list(**kwargs)
        assert field in _errors(excinfo)


@pytest.mark.redis
def test_ping_reports_an_unreachable_queue(tmp_path):
    settings = Settings.from_env({"store": tmp_path, "queue": "redis://127.0.0.1:1/0"},
                                 environ={})
    ok, detail = JobService(settings, ModelStore(tmp_path)).ping()
    assert not ok and "unreachable" in detail


def test_a_stopping_consumer_fails_only_its_own_running_jobs(svc):
    X, y = tiny_data()
    mine, _ = svc.submit("iris", X, y, {})
    other, _ = svc.submit("iris", X, y, {})
    host = socket.gethostname()
    svc.job_store.transition(mine["job_id"], ("queued",), "running", worker=f"{host}:77:78")
    svc.job_store.transition(other["job_id"], ("queued",), "running", worker=f"{host}:7:8")
    assert end_own_jobs(svc.job_store, svc.settings, 77) == [mine["job_id"]]
    got = svc.get(mine["job_id"])
    assert got["status"] == "failed" and got["error"]["type"] == "worker_shutdown"
    assert svc.get(other["job_id"])["status"] == "running"


def test_sweep_removes_only_old_orphaned_datasets(svc, tmp_path):
    X, y = tiny_data()
    live, _ = svc.submit("iris", X, y, {})
    folder = tmp_path / "datasets"
    orphan = folder / "0123abcd.npz"
    orphan.write_bytes(b"x")
    assert sweep_datasets(svc.job_store, svc.settings) == []  # too young
    old = time.time() - 7200
    for path in folder.glob("*.npz"):
        os.utime(path, (old, old))
    assert sweep_datasets(svc.job_store, svc.settings) == ["0123abcd"]
    assert (folder / f"{live['job_id']}.npz").exists()  # its job is still queued
