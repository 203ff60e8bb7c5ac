"""The worker pool across separate network hosts (``bench.netns``): a Redis host, an API host and
two worker hosts, on a private bridge, sharing one store directory (a shared volume's stand-in).

A search posted to the API host runs trials on both worker hosts, each trial records its host;
killing one worker host mid-search loses only its running trials; the API host answers
predictions throughout. Where ``ip netns`` is not permitted the test fails and says so.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import datetime

import pytest
import redis
import requests

from bench.netns import Lab, NetnsUnavailable, leftovers
from tests.protocol_models import publish_models
from tests.server import ROOT
from tests.test_search import _slow_data

pytestmark = [pytest.mark.e2e]
KEY = "netns-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def lab():
    try:
        made = Lab.create(["redis", "api", "worker-a", "worker-b"])
    except NetnsUnavailable as exc:
        pytest.fail(f"the scale-out test needs network namespaces: {exc}")
    try:
        yield made
    finally:
        made.destroy()
        assert leftovers(made.tag) == [], "namespaces or links left behind"


def _env(store, **settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNSERVE_")}
    env.update(PYTHONPATH=str(ROOT), NNSERVE_STORE=str(store), OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.update({f"NNSERVE_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def _ping(host: str) -> bool:
    with redis.Redis(host=host, socket_timeout=1) as client:
        return bool(client.ping())


def _wait(what: str, check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not up after {timeout} s")
        time.sleep(0.1)


def test_search_across_two_worker_hosts_survives_losing_one(lab, tmp_path):
    store = tmp_path / "store"
    publish_models(store)  # iris versions, for the predictions made throughout
    redis_addr, api_addr = lab.hosts["redis"], lab.hosts["api"]
    queue = f"redis://{redis_addr}:6379/0"
    settings = {"queue": queue, "heartbeat_interval": 0.3, "heartbeat_timeout": 2.5}
    # No protected mode: clients come from other hosts of the private bridge, not loopback.
    lab.run("redis", ["redis-server", "--bind", redis_addr, "--port", "6379", "--save", "",
                      "--appendonly", "no", "--protected-mode", "no", "--dir", str(tmp_path)],
            _env(store), tmp_path / "redis.log")
    _wait("redis", lambda: _ping(redis_addr))
    lab.run("api", [sys.executable, "-m", "service.cli", "serve", "--no-worker"],
            _env(store, host=api_addr, port=8000, workers=2, api_keys=f"{KEY}:predict+train+admin",
                 **settings), tmp_path / "api.log", cwd=ROOT)
    url = f"http://{api_addr}:8000"
    _wait("the API host", lambda: requests.get(f"{url}/healthz", timeout=1).ok)
    for host, concurrency in (("worker-a", 2), ("worker-b", 1)):
        lab.run(host, [sys.executable, "-m", "service.cli", "worker", "--concurrency",
                       str(concurrency)], _env(store, **settings), tmp_path / f"{host}.log",
                cwd=ROOT)

    answers: list[tuple[int, float]] = []
    stop = threading.Event()

    def predict_throughout() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                start = time.monotonic()
                try:
                    code = session.post(f"{url}/predict", headers=AUTH, timeout=5, json={
                        "model": "iris", "instances": [[5.1, 3.5, 1.4, 0.2]]}).status_code
                except requests.RequestException:
                    code = 0
                answers.append((code, time.monotonic() - start))
                stop.wait(0.05)

    predictor = threading.Thread(target=predict_throughout, daemon=True)
    predictor.start()
    try:
        t0 = time.monotonic()
        resp = requests.post(f"{url}/train", headers=AUTH, timeout=30, json={
            "model": "spread", "data": _slow_data(2000), "strategy": "random",
            "params": {"early_stopping": False}, "search": {"l2": {"uniform": [0.0, 0.01]}},
            "budget": {"trials": 6, "max_epochs": 300}})
        assert resp.status_code == 202, resp.text
        parent_id = resp.json()["job_id"]

        def runs() -> list[dict]:
            return requests.get(f"{url}/jobs/{parent_id}", headers=AUTH,
                                timeout=10).json()["search"]["runs"]

        # Until both hosts have run a trial and worker-b is in the middle of one.
        deadline = time.monotonic() + 90
        while True:
            current = runs()
            hosts = {r["host"] for r in current if r["host"]}
            victims = [r for r in current if r["host"] == "worker-b" and r["status"] == "running"
                       and _early(url, r)]
            if hosts == {"worker-a", "worker-b"} and victims:
                break
            assert time.monotonic() < deadline, current
            time.sleep(0.05)
        lab.kill_host("worker-b")
        killed_at = time.monotonic()

        while True:
            parent = requests.get(f"{url}/jobs/{parent_id}", headers=AUTH, timeout=10).json()
            if parent["status"] not in ("queued", "running"):
                break
            assert time.monotonic() - t0 < 180, parent["progress"]
            time.sleep(0.2)
        took = time.monotonic() - t0
    finally:
        stop.set()
        predictor.join(10)

    assert parent["status"] == "succeeded", parent
    final = parent["search"]["runs"]
    lost = {r["job_id"] for r in final if r["status"] == "failed"}
    assert {v["job_id"] for v in victims} <= lost
    for run in final:
        assert run["host"] in ("worker-a", "worker-b"), run
        if run["job_id"] in lost:  # only worker-b's running trials, lost with their worker
            assert run["host"] == "worker-b" and run["error"]["type"] == "worker_lost", run
        else:
            assert run["status"] == "succeeded", run
    child = requests.get(f"{url}/jobs/{final[0]['job_id']}", headers=AUTH).json()
    assert child["worker"].split(":")[0] == final[0]["host"]

    codes = [code for code, _ in answers]
    assert codes and set(codes) == {200}, f"{len(codes)} predictions: {sorted(set(codes))}"
    latencies = sorted(seconds for _, seconds in answers)
    lost_after = max(_seconds(r, parent) for r in final if r["job_id"] in lost) - (
        killed_at - t0)
    print(f"\nnetns search: {took:.1f} s for {len(final)} runs on worker-a/worker-b; worker-b "
          f"killed at {killed_at - t0:.1f} s, its {len(lost)} trial(s) failed worker_lost "
          f"{lost_after:.1f} s later; {len(codes)} predictions all 200, p50 "
          f"{latencies[len(latencies) // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")


def _early(url: str, run: dict) -> bool:
    """Whether the trial of ``run`` has trained but is far from its end (a kill lands mid-way)."""
    child = requests.get(f"{url}/jobs/{run['job_id']}", headers=AUTH, timeout=10).json()
    return child["status"] == "running" and 1 <= child["progress"]["epoch"] < run["epochs"] // 2


def _seconds(run: dict, parent: dict) -> float:
    """Seconds from the search's creation to the end of ``run`` (on the store's clock)."""
    return (datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(
        parent["created_at"])).total_seconds()


def test_no_netns_permission_is_a_clear_failure(monkeypatch):
    """Without the right to make namespaces, ``Lab.create`` says why (the test above then fails
    with that message rather than skipping) and leaves nothing behind."""
    import subprocess

    from bench import netns

    calls = []

    def refuse(*args, ns=None):
        calls.append(args)
        if args[:2] == ("netns", "add"):
            raise subprocess.CalledProcessError(1, ["ip", *args], "",
                                                "mount --make-shared /run/netns failed: "
                                                "Operation not permitted")
        return ""

    monkeypatch.setattr(netns, "_ip", refuse)
    with pytest.raises(NetnsUnavailable, match="not permitted here.*need root"):
        Lab.create(["redis", "api"])
    assert ("netns", "add") == calls[1][:2] and not any(c[:2] == ("link", "add") for c in calls)
