"""Hyper-parameter search (``service.jobs.search``): the request's checks, sampling and halving
rules, and real searches on ``nnserve serve`` with its embedded SQLite-mode worker."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime

import numpy as np
import pytest
import requests
from sklearn.datasets import load_digits, load_iris

from service.jobs.search_space import check_budget, promotable, rung_epochs, sample
from service.jobs.sqlite_store import SqliteJobStore
from tests.server import start_server, wait_job

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS = {"features": IRIS_X.tolist(), "labels": IRIS_Y.tolist()}
FAST = {"heartbeat_interval": 0.2, "heartbeat_timeout": 2}


def _slow_data(rows: int = 2000) -> dict:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 20))
    return {"features": X.tolist(), "labels": (X[:, 0] + X[:, 1] > 0).astype(int).tolist()}


# -- the request ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "field"), [
    ({"search": {"learning_rate": [0.01]}, "params": {"learning_rate": 0.1}},
     "params.learning_rate"),
    ({"search": {"nope": [1]}}, "search.nope"),
    ({"search": {"epochs": [1, 2]}}, "search.epochs"),
    ({"search": {"learning_rate": {"gaussian": [0, 1]}}}, "search.learning_rate"),
    ({"search": {"learning_rate": {"log_uniform": [0, 1]}}}, "search.learning_rate.log_uniform"),
    ({"search": {"l2": {"uniform": [0.5, 0.1]}}}, "search.l2.uniform"),
    ({"search": {"activation": {"uniform": [0, 1]}}}, "search.activation.uniform"),
    ({"search": {"batch_size": [16, 0]}}, "search.batch_size[1]"),
    ({"search": {"activation": []}}, "search.activation"),
    ({"search": []}, "search"),
    ({"search": "auto", "strategy": "bayes"}, "strategy"),
    ({"search": "auto", "budget": {"trials": 0}}, "budget.trials"),
    ({"search": "auto", "budget": {"trials": 65}}, "budget.trials"),
    ({"search": "auto", "budget": {"steps": 3}}, "budget.steps"),
    ({"search": "auto", "strategy": "grid"}, "search.learning_rate"),
    ({"search": {"l2": [0.0, 0.1, 0.2]}, "strategy": "grid", "budget": {"trials": 2}},
     "budget.trials"),
    ({"strategy": "random"}, "strategy"),
    ({"budget": {"trials": 3}}, "budget"),
    ({"search": "auto", "promote": {"alias": "prod"}}, "promote"),
    ({"search": "auto", "params": {"warm_start_from": 1}}, "params.warm_start_from"),
])
def test_bad_search_requests_are_422_naming_the_field(client, body, field):
    resp = client.post("/train", json={"model": "m", "data": IRIS, **body})
    assert resp.status_code == 422, resp.get_json()
    assert field in resp.get_json()["errors"], resp.get_json()


def test_max_trials_setting(make_client):
    c = make_client(max_trials=4)
    resp = c.post("/train", json={"model": "m", "data": IRIS, "search": "auto",
                                  "strategy": "random", "budget": {"trials": 5}})
    assert resp.status_code == 422
    assert "NNSERVE_MAX_TRIALS" in resp.get_json()["detail"]


def test_sampling_is_reproducible_and_within_the_space():
    space = {"learning_rate": {"log_uniform": [1e-4, 3e-2]}, "batch_size": {"int_uniform": [8, 64]},
             "l2": {"uniform": [0.0, 0.1]}, "activation": ["relu", "tanh"]}
    draws = [sample(space, "random", 7, i) for i in range(50)]
    assert draws == [sample(space, "random", 7, i) for i in range(50)]
    assert draws != [sample(space, "random", 8, i) for i in range(50)]
    assert all(1e-4 <= d["learning_rate"] <= 3e-2 and 8 <= d["batch_size"] <= 64 and
               0 <= d["l2"] <= 0.1 for d in draws)
    assert {d["activation"] for d in draws} == {"relu", "tanh"}
    grid = {"a": [1, 2], "b": ["x", "y", "z"]}
    assert [sample(grid, "grid", 0, i) for i in range(6)] == [
        {"a": a, "b": b} for a in (1, 2) for b in ("x", "y", "z")]


def test_halving_rungs_and_promotion():
    budget = check_budget({"trials": 9, "max_epochs": 27}, {"l2": [0.0]}, "halving", 50, 64)
    assert rung_epochs(budget) == [3, 9, 27]
    assert rung_epochs(check_budget({"trials": 2, "max_epochs": 27}, {"l2": [0.0]}, "halving",
                                    50, 64)) == [27]
    assert promotable([(0, 0.5), (1, 0.2)], set()) is None  # 2 // 3: nobody yet
    assert promotable([(0, 0.5), (1, 0.2), (2, 0.9)], set()) == 1  # asynchronous: top third
    assert promotable([(0, 0.5), (1, 0.2), (2, 0.9)], {1}) is None


# -- real searches --------------------------------------------------------------------------------
def _intervals(api: str, job: dict) -> list[tuple[float, float]]:
    out = []
    for child_id in job["children"]:
        child = requests.get(f"{api}/jobs/{child_id}", timeout=10).json()
        if child["started_at"]:
            out.append((datetime.fromisoformat(child["started_at"]).timestamp(),
                        datetime.fromisoformat(child["finished_at"]).timestamp()))
    return out


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _wait_slots(store, slots: int) -> None:
    jobs = SqliteJobStore(store / "jobs.sqlite3")
    deadline = time.monotonic() + 20
    while jobs.worker_slots() != slots:
        assert time.monotonic() < deadline, "the worker never announced its slots"
        time.sleep(0.1)


@pytest.mark.e2e
def test_single_worker_search_completes_and_publishes_the_best_trial(tmp_path):
    """One worker process: a parent that held it while waiting would deadlock here."""
    store = tmp_path / "store"
    srv = start_server(store, log_dir=tmp_path, worker_concurrency=1, **FAST)
    try:
        _wait_slots(store, 1)
        resp = requests.post(f"{srv.url}/train", json={
            "model": "iris", "data": IRIS, "params": {"seed": 3}, "description": "Irises.",
            "search": {"learning_rate": {"log_uniform": [1e-3, 3e-2]},
                       "hidden_layers": [[16], [32]]},
            "budget": {"trials": 4, "max_epochs": 12}}, timeout=30)
        assert resp.status_code == 202, resp.text
        parent = wait_job(srv.url, resp.json()["job_id"], timeout=120)
        assert parent["status"] == "succeeded", parent
        assert parent["kind"] == "search" and parent["model_version"] == 1
        runs = parent["search"]["runs"]
        assert len(parent["children"]) == len(runs) >= 4
        assert {r["status"] for r in runs} == {"succeeded"}
        assert [r["epochs"] for r in runs if r["rung"] == 1] == [12]  # 4 trials: rungs 4, 12
        assert _most_at_once(_intervals(srv.url, parent)) == 1
        child = requests.get(f"{srv.url}/jobs/{parent['children'][0]}").json()
        assert child["parent"] == parent["job_id"] and child["model_version"] is None
        assert child["worker"].split(":")[0] == runs[0]["host"]

        meta = requests.get(f"{srv.url}/models/iris/versions/1").json()
        table = meta["search"]["trials"]
        best = min((r for r in table if r["status"] == "succeeded"),
                   key=lambda r: (r["val_loss"], -r["val_accuracy"]))
        assert meta["search"]["best_trial"] == best["trial"]
        assert meta["job_id"] == parent["job_id"]
        assert meta["params"]["learning_rate"] == pytest.approx(best["params"]["learning_rate"])
        assert meta["params"]["epochs"] == best["epochs"] and meta["params"]["seed"] == 3
        assert not (store / "trials" / parent["job_id"]).exists()  # trial models cleaned up
        pred = requests.post(f"{srv.url}/predict", json={"model": "iris",
                                                         "instances": IRIS_X[:3].tolist()})
        assert pred.status_code == 200

        # The same request samples the same trials.
        again = requests.post(f"{srv.url}/train", json={
            "model": "iris", "data": IRIS, "params": {"seed": 3},
            "search": {"learning_rate": {"log_uniform": [1e-3, 3e-2]},
                       "hidden_layers": [[16], [32]]},
            "budget": {"trials": 4, "max_epochs": 12}}, timeout=30).json()
        again = wait_job(srv.url, again["job_id"], timeout=120)
        assert [r["params"] for r in again["search"]["runs"]] == [r["params"] for r in runs]
    finally:
        srv.stop()


@pytest.mark.e2e
def test_search_leaves_a_slot_for_other_jobs_and_runs_four_trials_at_once(tmp_path):
    """Five worker processes: the search keeps at most four trials going (one slot stays free
    for other jobs), and four trials writing one SQLite job store at once never fail on
    "database is locked"."""
    store = tmp_path / "store"
    srv = start_server(store, log_dir=tmp_path, worker_concurrency=5, **FAST)
    try:
        _wait_slots(store, 5)
        resp = requests.post(f"{srv.url}/train", json={
            "model": "many", "data": _slow_data(1000), "strategy": "random",
            "params": {"early_stopping": False},
            "search": {"l2": {"uniform": [0.0, 0.01]}}, "budget": {"trials": 8,
                                                                    "max_epochs": 150}},
            timeout=30)
        parent_id = resp.json()["job_id"]
        time.sleep(0.5)
        other = requests.post(f"{srv.url}/train", json={
            "model": "other", "data": IRIS, "params": {"epochs": 5}}, timeout=30).json()
        other = wait_job(srv.url, other["job_id"], timeout=60)
        parent = wait_job(srv.url, parent_id, timeout=120)
        assert other["status"] == "succeeded", other
        assert parent["status"] == "succeeded", parent
        assert datetime.fromisoformat(other["finished_at"]) < datetime.fromisoformat(
            parent["finished_at"])  # not queued behind the whole search
        runs = parent["search"]["runs"]
        assert len(runs) == 8 and {r["status"] for r in runs} == {"succeeded"}, runs
        assert _most_at_once(_intervals(srv.url, parent)) == 4
        assert "locked" not in srv.output()
    finally:
        srv.stop()


@pytest.mark.e2e
def test_cancel_search_cancels_queued_and_running_trials(tmp_path):
    store = tmp_path / "store"
    srv = start_server(store, log_dir=tmp_path, worker_concurrency=3, **FAST)
    long = {"epochs": 100_000 // 10, "early_stopping": False}
    try:
        _wait_slots(store, 3)
        blockers = [requests.post(f"{srv.url}/train", json={
            "model": f"block{i}", "data": _slow_data(500), "params": long}).json()
            for i in range(2)]  # two of the three slots: one trial runs, one waits
        resp = requests.post(f"{srv.url}/train", json={
            "model": "cancelled", "data": _slow_data(500), "strategy": "random",
            "params": {"early_stopping": False}, "search": {"l2": [0.0, 0.001, 0.01]},
            "budget": {"trials": 3, "max_epochs": 10_000}}).json()
        deadline = time.monotonic() + 30
        while True:
            parent = requests.get(f"{srv.url}/jobs/{resp['job_id']}").json()
            states = sorted(r["status"] for r in parent["search"]["runs"])
            if states == ["queued", "running"]:
                break
            assert time.monotonic() < deadline, parent
            time.sleep(0.1)
        cancelled = requests.delete(f"{srv.url}/jobs/{parent['job_id']}")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        for child_id in parent["children"]:
            child = wait_job(srv.url, child_id, timeout=30)
            assert child["status"] == "cancelled", child
        for job in blockers:
            requests.delete(f"{srv.url}/jobs/{job['job_id']}")
        parent = requests.get(f"{srv.url}/jobs/{parent['job_id']}").json()
        assert parent["status"] == "cancelled" and parent["model_version"] is None
        assert requests.get(f"{srv.url}/models/cancelled").status_code == 404
        deadline = time.monotonic() + 10  # its data go once no trial of it runs
        while list((store / "datasets").glob(f"{parent['job_id']}*")):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        srv.stop()


@pytest.mark.e2e
def test_a_killed_trial_is_lost_alone_and_the_search_goes_on(tmp_path):
    store = tmp_path / "store"
    srv = start_server(store, log_dir=tmp_path, worker_concurrency=2, **FAST)
    try:
        _wait_slots(store, 2)
        resp = requests.post(f"{srv.url}/train", json={
            "model": "survivor", "data": _slow_data(1000), "strategy": "random",
            "params": {"early_stopping": False},
            "search": {"l2": [0.0, 0.001, 0.01]}, "budget": {"trials": 3, "max_epochs": 300}
        }).json()
        deadline = time.monotonic() + 30
        while True:
            parent = requests.get(f"{srv.url}/jobs/{resp['job_id']}").json()
            running = [r for r in parent["search"]["runs"] if r["status"] == "running"]
            if running:
                child = requests.get(f"{srv.url}/jobs/{running[0]['job_id']}").json()
                if child["progress"]["epoch"] >= 1:
                    break
            assert time.monotonic() < deadline, parent
            time.sleep(0.05)
        os.kill(int(child["worker"].split(":")[2]), signal.SIGKILL)  # the training process
        parent = wait_job(srv.url, parent["job_id"], timeout=90)
        assert parent["status"] == "succeeded", parent
        lost = requests.get(f"{srv.url}/jobs/{child['job_id']}").json()
        assert lost["status"] == "failed" and lost["error"]["type"] == "worker_lost", lost
        statuses = {r["job_id"]: r["status"] for r in parent["search"]["runs"]}
        assert statuses.pop(child["job_id"]) == "failed"
        assert set(statuses.values()) == {"succeeded"} and len(statuses) == 2
        meta = requests.get(f"{srv.url}/models/survivor/versions/1").json()
        assert [r["status"] for r in meta["search"]["trials"]].count("failed") == 1
    finally:
        srv.stop()


@pytest.mark.e2e
@pytest.mark.slow
def test_auto_search_on_digits_is_at_least_as_good_as_the_defaults(tmp_path):
    """Held-out accuracy on scikit-learn's digits: the "auto" search against a job with the
    default params, both through the service on the same rows; 450 rows neither saw."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    test, train = order[:450], order[450:]
    data = {"features": X[train].tolist(), "labels": y[train].tolist()}
    store = tmp_path / "store"
    srv = start_server(store, log_dir=tmp_path, worker_concurrency=2, **FAST)
    try:
        default = requests.post(f"{srv.url}/train", json={"model": "default", "data": data})
        search = requests.post(f"{srv.url}/train", json={
            "model": "searched", "search": "auto", "data": data,
            "budget": {"trials": 9, "max_epochs": 50}})
        accuracy = {}
        for name, resp in (("default", default), ("searched", search)):
            job = wait_job(srv.url, resp.json()["job_id"], timeout=240)
            assert job["status"] == "succeeded", job
            pred = requests.post(f"{srv.url}/predict", json={
                "model": name, "instances": X[test].tolist()}).json()
            meta = requests.get(f"{srv.url}/models/{name}/versions/1").json()
            accuracy[name] = (float((np.asarray(pred["labels"]) == y[test]).mean()),
                              meta["evaluation"]["test"]["accuracy"])
        print(f"digits held-out accuracy (450 rows; the job's own test split): search "
              f"{accuracy['searched']}, defaults {accuracy['default']}")
        assert accuracy["searched"][0] >= accuracy["default"][0]
    finally:
        srv.stop()
