"""Scale-out mode against the real Redis: two API processes and two workers on one store."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
import redis
import requests
from sklearn.datasets import load_iris

from tests.server import start_server, start_worker, wait_job

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
REDIS_URL = os.environ.get("NNSERVE_TEST_REDIS", "redis://127.0.0.1:6379/14")


def test_two_apis_two_workers_one_store(tmp_path):
    redis.Redis.from_url(REDIS_URL).flushdb()  # a database of its own; fails if Redis is down
    store = tmp_path / "store"
    fast = {"queue": REDIS_URL, "heartbeat_interval": 0.3, "heartbeat_timeout": 3}
    api_a = start_server(store, "--no-worker", log_dir=tmp_path, **fast)
    api_b = start_server(store, "--no-worker", log_dir=tmp_path, **fast)
    workers = [start_worker(store, log_dir=tmp_path, **fast) for _ in range(2)]
    X, y = load_iris(return_X_y=True)
    try:
        job = requests.post(f"{api_a.url}/train", json={
            "model": "shared", "params": {"epochs": 20},
            "data": {"features": X.tolist(), "labels": y.tolist()}}, timeout=30).json()
        done = wait_job(api_b.url, job["job_id"])  # followed through the other API
        assert done["status"] == "succeeded" and done["model_version"] == 1, done
        answers = [requests.post(f"{url}/predict", json={"model": "shared",
                                                         "instances": X[:5].tolist()}).json()
                   for url in (api_a.url, api_b.url)]
        assert answers[0] == answers[1] and answers[0]["version"] == 1
        assert requests.get(f"{api_b.url}/readyz").json()["checks"]["queue"]["ok"]

        # Kill -9 the worker that runs a long job: it ends failed/worker_lost, as documented.
        rng = np.random.default_rng(0)
        big = rng.normal(size=(3000, 20))
        long_job = requests.post(f"{api_a.url}/train", json={
            "model": "doomed", "params": {"epochs": 5000, "early_stopping": False},
            "data": {"features": big.tolist(), "labels": (big[:, 0] > 0).astype(int).tolist()},
        }, timeout=30).json()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = requests.get(f"{api_b.url}/jobs/{long_job['job_id']}").json()
            if state["status"] == "running" and state["progress"]["epoch"] >= 1:
                break
            time.sleep(0.1)
        assert state["status"] == "running", state
        consumer_pid = int(state["worker"].split(":")[1])  # host:consumer pid:job pid
        victim = next(w for w in workers if w.pid == consumer_pid)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        lost = wait_job(api_a.url, long_job["job_id"], timeout=30)
        assert lost["status"] == "failed" and lost["error"]["type"] == "worker_lost", lost
        assert requests.get(f"{api_a.url}/models/doomed").status_code == 404

        # A fresh worker picks up new work; numbering of the shared model goes on.
        workers.append(start_worker(store, log_dir=tmp_path, **fast))
        again = requests.post(f"{api_b.url}/train", json={
            "model": "shared", "params": {"epochs": 5},
            "data": {"features": X.tolist(), "labels": y.tolist()}}, timeout=30).json()
        assert wait_job(api_a.url, again["job_id"])["model_version"] == 2
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
                w.wait(30)
        api_a.stop()
        api_b.stop()
