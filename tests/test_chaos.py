"""Chaos over real processes on loopback: ``kill -9`` of a training worker and of a gunicorn
worker under load, a full and a read-only model store, a flood of training jobs and concurrent
duplicate submissions. Every wait and every load loop here is bounded and stops by itself.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from sklearn.datasets import load_iris

from service.store import ModelStore
from tests.factories import publish_trained
from tests.server import (
    Server,
    start_server,
    start_worker,
    wait_job,
)

pytestmark = pytest.mark.e2e

HEARTBEAT = {"heartbeat_timeout": 3, "heartbeat_interval": 0.5}
REAP_MARGIN = 3.0  # seconds allowed past heartbeat_timeout for the failure to show


def _children(pid: int) -> set[int]:
    """Live child processes of ``pid`` (from /proc)."""
    kids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.add(int(entry))
    return kids


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process group we started (no-op when it is gone already)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _group_gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_sigkill_training_worker_fails_job_worker_lost_and_a_new_worker_trains(tmp_path):
    store = tmp_path / "store"
    srv = start_server(store, "--no-worker", **HEARTBEAT)
    worker = start_worker(store, **HEARTBEAT)
    new_worker = None
    try:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(3000, 20))
        y = (X[:, 0] > 0).astype(int)
        resp = requests.post(f"{srv.url}/train", timeout=30, json={
            "model": "chaos", "params": {"epochs": 10_000, "early_stopping": False},
            "data": {"features": X.tolist(), "labels": y.tolist()}})
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["job_id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = requests.get(f"{srv.url}/jobs/{job_id}", timeout=10).json()
            if job["status"] == "running" and (job["progress"] or {}).get("epoch", 0) >= 1:
                break
            assert job["status"] in ("queued", "running"), job
            time.sleep(0.05)
        else:
            pytest.fail(f"job never ran an epoch: {job}")

        os.killpg(worker.pid, signal.SIGKILL)  # the consumer and its training process
        killed = time.monotonic()
        worker.wait(10)
        assert _group_gone(worker.pid), "a process of the killed worker survived"

        deadline = killed + HEARTBEAT["heartbeat_timeout"] + REAP_MARGIN
        while time.monotonic() < deadline:
            job = requests.get(f"{srv.url}/jobs/{job_id}", timeout=10).json()
            if job["status"] != "running":
                break
            time.sleep(0.1)
        noticed = time.monotonic() - killed
        assert job["status"] == "failed", (noticed, job)
        assert job["error"]["type"] == "worker_lost", job
        # Not before the heartbeat went stale (the last beat was at most one interval old).
        assert noticed >= HEARTBEAT["heartbeat_timeout"] - HEARTBEAT["heartbeat_interval"] - 0.2
        print(f"worker_lost after {noticed:.2f} s (timeout {HEARTBEAT['heartbeat_timeout']} s)")

        assert requests.get(f"{srv.url}/models/chaos", timeout=10).status_code == 404
        assert "chaos" not in [m["name"] for m in
                               requests.get(f"{srv.url}/models", timeout=10).json()["models"]]
        model_dir = store / "models" / "chaos"
        assert not model_dir.exists() or not [
            p.name for p in model_dir.iterdir() if p.name[0].isdigit() or
            p.name.startswith(".tmp-")]
        assert not (store / "datasets" / f"{job_id}.npz").exists()

        new_worker = start_worker(store, **HEARTBEAT)
        Xi, yi = load_iris(return_X_y=True)
        resp = requests.post(f"{srv.url}/train", timeout=30, json={
            "model": "chaos", "params": {"epochs": 20},
            "data": {"features": Xi.tolist(), "labels": yi.tolist()}})
        assert resp.status_code == 202, resp.text
        done = wait_job(srv.url, resp.json()["job_id"], timeout=60)
        assert done["status"] == "succeeded", done
        assert done["model_version"] == 1
        assert requests.get(f"{srv.url}/models/chaos", timeout=10).json()["versions"] == [1]
        assert requests.get(f"{srv.url}/jobs/{job_id}", timeout=10).json()["status"] == "failed"
    finally:
        for proc in (worker, new_worker):
            if proc is not None:
                _kill_group(proc)
        assert srv.stop() == 0, srv.output()


CLIENTS = 4
LOAD_SECONDS = 5.0


def test_sigkill_gunicorn_worker_under_predict_load(tmp_path):
    store = tmp_path / "store"
    X, y = load_iris(return_X_y=True)
    publish_trained(ModelStore(store), "iris", X, y)
    srv = start_server(store, "--no-worker")
    try:
        rows = X[::15].tolist()
        payload = {"model": "iris", "instances": rows}
        reference = requests.post(f"{srv.url}/predict", json=payload, timeout=10).json()
        master = srv.proc.pid
        before = _children(master)
        deadline = time.monotonic() + 10.0  # /healthz answers once the first worker is up
        while len(before) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            before = _children(master)
        assert len(before) == 2, before

        results: list[tuple[float, float, str, object]] = []  # (sent, done, outcome, detail)
        lock = threading.Lock()
        stop = time.monotonic() + LOAD_SECONDS

        def client() -> None:
            for _ in range(10_000):  # bounded in count and in time
                if time.monotonic() >= stop:
                    return
                sent = time.monotonic()
                try:
                    resp = requests.post(f"{srv.url}/predict", json=payload, timeout=10)
                    body = resp.json() if resp.status_code == 200 else resp.text
                    right = resp.status_code == 200 and body["version"] == 1 and np.allclose(
                        body["probabilities"], reference["probabilities"], atol=1e-6)
                    outcome, detail = ("ok" if right else "wrong"), (resp.status_code, body)
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                    # refused, reset, or the body cut short: the connection broke, no answer
                    outcome, detail = "connection", repr(exc)
                except Exception as exc:  # anything else is a wrong answer
                    outcome, detail = "wrong", repr(exc)
                with lock:
                    results.append((sent, time.monotonic(), outcome, detail))

        threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        respawned = None
        while time.monotonic() < killed + 15:
            now = _children(master)
            if victim not in now and len(now) == 2 and now - before:
                respawned = time.monotonic()
                break
            time.sleep(0.02)
        for t in threads:
            t.join(LOAD_SECONDS + 15)
        assert respawned is not None, f"gunicorn did not replace worker {victim}"
        assert not any(t.is_alive() for t in threads)

        wrong = [r for r in results if r[2] == "wrong"]
        failed = [r for r in results if r[2] == "connection"]
        after = [r for r in results if r[0] > respawned]
        print(f"{len(results)} requests, {len(failed)} connection errors, respawn after "
              f"{respawned - killed:.2f} s, {len(after)} requests after it")
        assert not wrong, wrong[:3]
        assert len(failed) <= CLIENTS, failed
        assert all(r[0] < respawned for r in failed), failed
        assert after and all(r[2] == "ok" for r in after)
        assert requests.get(f"{srv.url}/readyz", timeout=10).status_code == 200
    finally:
        assert srv.stop() == 0, srv.output()


def _start_with_small_models_fs(store: Path, size: str) -> Server:
    """``nnserve serve`` (with its embedded worker) in a private mount namespace where
    ``<store>/models`` is a ``size`` tmpfs: the model store can be filled up or made read-only
    while job records and datasets (the rest of the store) stay writable."""
    models = store / "models"
    models.mkdir(parents=True)
    script = (f"mount -t tmpfs -o size={size} nnserve-test {shlex.quote(str(models))} "
              '&& exec "$0" -m service.cli serve')
    return start_server(store, argv=["unshare", "--mount", "sh", "-c", script, sys.executable])


def _in_ns(server: Server, command: str) -> subprocess.CompletedProcess:
    """Run a shell command inside the server's mount namespace."""
    return subprocess.run(["nsenter", "-t", str(server.proc.pid), "-m", "sh", "-c", command],
                          capture_output=True, text=True, timeout=30)


def _can_mount() -> bool:
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        return False
    probe = subprocess.run(["unshare", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=64k probe /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount(), reason="needs root and mount namespaces (unshare -m)")
def test_full_and_read_only_model_store(tmp_path):
    """ENOSPC and EROFS on the model store: /readyz says so (still ready), the job fails
    ``store_error`` leaving no trace, served versions keep serving; training works again once
    space is back."""
    store = tmp_path / "store"
    srv = _start_with_small_models_fs(store, "2m")
    X, y = load_iris(return_X_y=True)
    models = shlex.quote(str(store / "models"))

    def train() -> dict:
        resp = requests.post(f"{srv.url}/train", timeout=30, json={
            "model": "iris", "params": {"epochs": 10},
            "data": {"features": X.tolist(), "labels": y.tolist()}})
        assert resp.status_code == 202, resp.text
        return wait_job(srv.url, resp.json()["job_id"], timeout=60)

    def predicts() -> bool:
        resp = requests.post(f"{srv.url}/predict", timeout=10,
                             json={"model": "iris", "version": 1, "instances": X[:3].tolist()})
        return resp.status_code == 200

    def refused(reason: str, versions: list[int]) -> None:
        ready = requests.get(f"{srv.url}/readyz", timeout=10)  # serving: ready, degraded
        assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
        assert reason in ready.json()["checks"]["store"]["detail"]
        job = train()
        assert job["status"] == "failed" and job["error"]["type"] == "store_error", job
        assert reason in job["error"]["message"], job
        print(f"{reason}: readyz degraded, job failed: {job['error']['message']}")
        assert predicts()
        assert requests.get(f"{srv.url}/models/iris", timeout=10).json()["versions"] == versions
        leftovers = _in_ns(srv, f"ls -A {models}/iris").stdout.split()
        assert not [n for n in leftovers if n.startswith(".tmp-")], leftovers

    try:
        assert train()["model_version"] == 1
        _in_ns(srv, f"dd if=/dev/zero of={models}/.fill bs=64k")  # until ENOSPC
        refused("No space left on device", [1])
        assert _in_ns(srv, f"rm {models}/.fill").returncode == 0
        assert requests.get(f"{srv.url}/readyz", timeout=10).status_code == 200
        again = train()
        assert again["status"] == "succeeded" and again["model_version"] > 1, again

        assert _in_ns(srv, f"mount -o remount,ro {models}").returncode == 0
        refused("Read-only file system", [1, again["model_version"]])
        assert _in_ns(srv, f"mount -o remount,rw {models}").returncode == 0
        last = train()
        assert last["status"] == "succeeded" and last["model_version"] > again["model_version"]
        assert "Traceback" not in srv.output(), srv.output()
    finally:
        assert srv.stop() == 0, srv.output()


LIMIT = 3


def _flood(url: str, body: dict, n: int) -> list[requests.Response]:
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: requests.post(f"{url}/train", json=body, timeout=30),
                             range(n)))


@pytest.fixture
def no_worker_server(tmp_path):
    srv = start_server(tmp_path / "store", "--no-worker", max_queued_per_model=LIMIT)
    yield srv
    assert srv.stop() == 0, srv.output()


@pytest.fixture(scope="module")
def iris_body():
    X, y = load_iris(return_X_y=True)
    return {"params": {"epochs": 5}, "data": {"features": X.tolist(), "labels": y.tolist()}}


def test_queue_flood_gets_429_with_retry_after_and_the_service_stays_up(no_worker_server,
                                                                       iris_body):
    url = no_worker_server.url
    flood = _flood(url, {**iris_body, "model": "flood"}, 40)
    codes = Counter(r.status_code for r in flood)
    assert set(codes) == {202, 429} and codes[202] == LIMIT, codes
    for r in flood:
        if r.status_code == 429:
            assert r.headers["Content-Type"] == "application/problem+json"
            assert int(r.headers["Retry-After"]) >= 1
    total = requests.get(f"{url}/jobs", params={"model": "flood"}, timeout=10).json()["total"]
    assert total == codes[202]
    assert requests.get(f"{url}/readyz", timeout=10).status_code == 200
    # Another model has its own budget.
    assert _flood(url, {**iris_body, "model": "other"}, 1)[0].status_code == 202


def test_queue_limit_is_exact_under_concurrent_submits(no_worker_server, iris_body):
    url = no_worker_server.url
    for model in [f"race-{i}" for i in range(8)]:
        codes = Counter(r.status_code for r in _flood(url, {**iris_body, "model": model}, 24))
        assert codes == {202: LIMIT, 429: 24 - LIMIT}, (model, codes)


def test_concurrent_retries_with_one_idempotency_key_make_one_job(no_worker_server, iris_body):
    url = no_worker_server.url
    body = {**iris_body, "model": "dup"}
    key = {"Idempotency-Key": "order-42"}
    with ThreadPoolExecutor(8) as pool:
        tries = list(pool.map(
            lambda _: requests.post(f"{url}/train", json=body, headers=key, timeout=30),
            range(8)))
    assert sorted(r.status_code for r in tries) == [200] * 7 + [202], [
        (r.status_code, r.text[:200]) for r in tries]
    assert len({r.json()["job_id"] for r in tries}) == 1
    assert requests.get(f"{url}/jobs", params={"model": "dup"}, timeout=10).json()["total"] == 1
    other = requests.post(f"{url}/train", json={**body, "params": {"epochs": 6}}, headers=key,
                          timeout=30)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["errors"]
