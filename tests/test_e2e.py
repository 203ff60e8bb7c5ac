"""End to end over real HTTP: ``nnserve serve`` (2 gunicorn workers + a training worker)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import train_test_split

from tests.server import start_server, wait_job

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e") / "store"


@pytest.fixture(scope="module")
def server(store):
    srv = start_server(store)
    yield srv
    assert srv.stop() == 0, srv.output()


def _train(url: str, model: str, X, y, **params) -> dict:
    resp = requests.post(f"{url}/train", json={
        "model": model, "params": params,
        "data": {"features": np.asarray(X).tolist(), "labels": np.asarray(y).tolist()}},
        timeout=30)
    assert resp.status_code == 202, resp.text
    assert resp.headers["Location"] == f"/jobs/{resp.json()['job_id']}"
    assert resp.json()["status"] == "queued"
    return resp.json()


def _predict(url: str, model: str, rows, version=None) -> dict:
    payload = {"model": model, "instances": np.asarray(rows).tolist()}
    if version is not None:
        payload["version"] = version
    resp = requests.post(f"{url}/predict", json=payload, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_iris_json_train_poll_predict(server):
    X, y = load_iris(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    names = np.array(["setosa", "versicolor", "virginica"])
    job = wait_job(server.url, _train(server.url, "iris", Xtr, names[ytr], epochs=150,
                                      learning_rate=0.01)["job_id"])
    assert job["status"] == "succeeded", job
    assert job["progress"]["epoch"] == len(job["history"]) > 0
    out = _predict(server.url, "iris", Xte)
    assert out["model"] == "iris" and out["version"] == job["model_version"]
    assert out["classes"] == names.tolist()
    proba = np.asarray(out["probabilities"])
    assert proba.shape == (len(Xte), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert out["labels"] == names[proba.argmax(axis=1)].tolist()
    assert np.mean(np.asarray(out["labels"]) == names[yte]) >= 0.9
    meta = requests.get(f"{server.url}/models/iris/versions/{job['model_version']}").json()
    assert meta["n_features"] == 4 and meta["job_id"] == job["job_id"]
    assert len(meta["artifact_sha256"]) == 64 and meta["dataset"]["rows"] == len(Xtr)
    artifact = requests.get(f"{server.url}/models/iris/versions/{job['model_version']}/artifact")
    assert artifact.status_code == 200
    assert np.load(io.BytesIO(artifact.content), allow_pickle=False).files


def test_digits_csv_train_and_predict(server):
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    header = ",".join(f"px{i}" for i in range(64)) + ",digit"
    rows = np.column_stack([Xtr.astype(int), ytr])
    lines = [header] + [",".join(map(str, r)) for r in rows]
    resp = requests.post(f"{server.url}/train?model=digits&label_column=digit",
                         data="\n".join(lines), headers={"Content-Type": "text/csv"}, timeout=30)
    assert resp.status_code == 202, resp.text
    job = wait_job(server.url, resp.json()["job_id"])
    assert job["status"] == "succeeded", job
    out = _predict(server.url, "digits", Xte)
    assert out["classes"] == list(range(10))
    assert np.mean(np.asarray(out["labels"]) == yte) >= 0.95
    meta = requests.get(f"{server.url}/models/digits/versions/{job['model_version']}").json()
    assert meta["feature_names"][:2] == ["px0", "px1"]


def test_versions_aliases_and_both_versions_predictable(server):
    X, y = load_iris(return_X_y=True)
    first = wait_job(server.url, _train(server.url, "twice", X, y, epochs=5, seed=1)["job_id"])
    second = wait_job(server.url, _train(server.url, "twice", X, y, epochs=5, seed=2)["job_id"])
    assert (first["model_version"], second["model_version"]) == (1, 2)
    done = requests.delete(f"{server.url}/jobs/{first['job_id']}")
    assert done.status_code == 409 and "succeeded" in done.json()["detail"]
    p1 = _predict(server.url, "twice", X[:5], version=1)
    p2 = _predict(server.url, "twice", X[:5], version="2")
    assert (p1["version"], p2["version"]) == (1, 2)
    assert not np.allclose(p1["probabilities"], p2["probabilities"])
    assert _predict(server.url, "twice", X[:5])["version"] == 2
    assert _predict(server.url, "twice", X[:5], version="latest")["version"] == 2

    resp = requests.put(f"{server.url}/models/twice/aliases/production", json={"version": 1})
    assert resp.status_code == 200 and resp.json()["version"] == 1
    prod = _predict(server.url, "twice", X[:5], version="production")
    assert prod["version"] == 1 and prod["probabilities"] == p1["probabilities"]
    summary = requests.get(f"{server.url}/models/twice").json()
    assert summary == {"name": "twice", "versions": [1, 2], "latest": 2,
                       "aliases": {"production": 1}}
    assert requests.delete(f"{server.url}/models/twice/versions/1").status_code == 409
    third = wait_job(server.url, _train(server.url, "twice", X, y, epochs=5, seed=3)["job_id"])
    assert third["model_version"] == 3
    assert _predict(server.url, "twice", X[:5], version="production")["version"] == 1
    assert requests.delete(f"{server.url}/models/twice/aliases/production").status_code == 204
    resp = requests.post(f"{server.url}/predict",
                         json={"model": "twice", "version": "production", "instances": [[1] * 4]})
    assert resp.status_code == 404
    assert requests.delete(f"{server.url}/models/twice/versions/1").status_code == 204
    assert requests.get(f"{server.url}/models/twice").json()["versions"] == [2, 3]
    resp = requests.post(f"{server.url}/predict",
                         json={"model": "twice", "version": 1, "instances": [[1] * 4]})
    assert resp.status_code == 404


def test_concurrent_trainings_of_one_name_get_distinct_versions(server):
    X, y = load_iris(return_X_y=True)
    with ThreadPoolExecutor(6) as pool:
        jobs = list(pool.map(lambda s: _train(server.url, "race", X, y, epochs=3, seed=s),
                             range(6)))
    done = [wait_job(server.url, j["job_id"]) for j in jobs]
    assert all(j["status"] == "succeeded" for j in done), done
    assert sorted(j["model_version"] for j in done) == [1, 2, 3, 4, 5, 6]
    listed = requests.get(f"{server.url}/jobs", params={"model": "race", "limit": 4}).json()
    assert listed["total"] == 6 and len(listed["jobs"]) == 4
    created = [j["created_at"] for j in listed["jobs"]]
    assert created == sorted(created, reverse=True)
    page2 = requests.get(f"{server.url}/jobs",
                         params={"model": "race", "limit": 4, "offset": 4}).json()
    assert len(page2["jobs"]) == 2
    assert requests.get(f"{server.url}/jobs", params={"status": "failed", "model": "race"}
                        ).json()["total"] == 0


def test_cancel_running_job_publishes_nothing(server):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 20))
    y = (X[:, 0] > 0).astype(int)
    job = _train(server.url, "cancelme", X, y, epochs=10_000, early_stopping=False)
    for _ in range(200):
        state = requests.get(f"{server.url}/jobs/{job['job_id']}").json()
        if state["status"] == "running" and state["progress"]["epoch"] >= 1:
            break
    resp = requests.delete(f"{server.url}/jobs/{job['job_id']}")
    assert resp.status_code == 202, resp.text
    final = wait_job(server.url, job["job_id"], timeout=60)
    assert final["status"] == "cancelled", final
    assert requests.get(f"{server.url}/models/cancelme").status_code == 404
    again = requests.delete(f"{server.url}/jobs/{job['job_id']}")  # idempotent
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_restart_keeps_models_and_jobs(tmp_path):
    X, y = load_iris(return_X_y=True)
    first = start_server(tmp_path / "store")
    try:
        job = wait_job(first.url, _train(first.url, "keep", X, y, epochs=5)["job_id"])
        before = _predict(first.url, "keep", X[:3])
    finally:
        assert first.stop() == 0, first.output()
    again = start_server(tmp_path / "store")
    try:
        assert requests.get(f"{again.url}/jobs/{job['job_id']}").json()["status"] == "succeeded"
        assert _predict(again.url, "keep", X[:3]) == before
        assert "keep" in [m["name"] for m in requests.get(f"{again.url}/models").json()["models"]]
        second = wait_job(again.url, _train(again.url, "keep", X, y, epochs=5)["job_id"])
        assert second["model_version"] == 2
    finally:
        assert again.stop() == 0, again.output()


def test_cli_train_and_predict_against_the_server(server, tmp_path):
    X, y = load_iris(return_X_y=True)
    csv = tmp_path / "iris.csv"
    np.savetxt(csv, np.column_stack([X, y]), delimiter=",", fmt="%g", comments="",
               header="sepal_length,sepal_width,petal_length,petal_width,species")
    cli = [sys.executable, "-m", "service.cli"]
    trained = subprocess.run([*cli, "train", str(csv), "--model", "cli-iris", "--label-column",
                              "species", "--server", server.url], capture_output=True,
                             text=True, timeout=120)
    assert trained.returncode == 0, trained.stderr
    lines = [json.loads(line) for line in trained.stdout.splitlines()]
    assert lines[0]["status"] == "queued" and lines[-1]["status"] == "succeeded"
    assert any("epoch" in line for line in lines[1:-1])
    predicted = subprocess.run([*cli, "predict", str(csv), "--model", "cli-iris",
                                "--drop-column", "species", "--server", server.url],
                               capture_output=True, text=True, timeout=60)
    assert predicted.returncode == 0, predicted.stderr
    out = json.loads(predicted.stdout)
    assert out["version"] == lines[-1]["model_version"] and len(out["labels"]) == len(X)
    missing = subprocess.run([*cli, "predict", str(csv), "--model", "nope", "--server",
                              server.url], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "404" in missing.stderr


def test_sigterm_lets_in_flight_predictions_finish(tmp_path):
    srv = start_server(tmp_path / "store", max_rows=400_000)
    X, y = load_iris(return_X_y=True)
    wait_job(srv.url, _train(srv.url, "big", X, y, epochs=2, hidden_layers=[512])["job_id"])
    rows = np.tile(X, (2000, 1)).tolist()  # 300 000 rows: a request that takes a while
    body = json.dumps({"model": "big", "instances": rows})
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(requests.post, f"{srv.url}/predict", data=body, timeout=120,
                              headers={"Content-Type": "application/json"})
        time.sleep(0.3)  # the request is being served
        assert srv.stop() == 0, srv.output()
        resp = pending.result()
    assert resp.status_code == 200 and len(resp.json()["labels"]) == len(rows)
