"""Jobs under faults, with real worker processes: a job store that goes away for a few seconds
(Redis stopped and restarted, SQLite locked beyond its busy timeout), and a killed server."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import redis
import requests

from tests.server import free_port, start_server
from tests.test_jobs_worker import Harness

# ~2 ms an epoch here: several seconds of training, a progress write every 0.2 s
LONG = {"hidden_layers": [32], "epochs": 3000, "batch_size": 32, "early_stopping": False,
        "validation_split": 0.0}


def data(rows: int = 600):
    rng = np.random.default_rng(0)
    y = np.arange(rows) % 3
    return rng.normal(size=(rows, 4)) + y[:, None] * 2.0, y


class ThrowawayRedis:
    """A redis-server of our own (the shared one is never disturbed), persisting every write
    to its append-only file so that a restart keeps the data, as a real deployment's would."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)


def _outage_during_training(h: Harness, outage) -> dict:
    X, y = data()
    job, _ = h.svc.submit("iris", X, y, LONG)
    h.start_worker()
    h.training(job["job_id"])
    outage()
    return h.finished(job["job_id"], timeout=90)


def _assert_succeeded_whole(h: Harness, end: dict) -> None:
    assert end["status"] == "succeeded", end.get("error")
    epochs = [e["epoch"] for e in end["history"]]
    assert epochs == list(range(1, LONG["epochs"] + 1))  # no entry lost in the outage
    assert end["progress"]["epoch"] == LONG["epochs"]
    meta = h.store.meta("iris", end["model_version"])
    assert len(meta["history"]) == LONG["epochs"]


@pytest.mark.redis
def test_a_redis_outage_shorter_than_the_heartbeat_timeout_does_not_kill_the_job(tmp_path):
    server = ThrowawayRedis(tmp_path)
    server.start()
    h = Harness(tmp_path / "store", server.url, "blip")
    h.configure(heartbeat_timeout=10.0)
    seen: dict[str, float] = {}

    def outage() -> None:
        server.kill()
        seen["down"] = time.monotonic()
        time.sleep(3.0)
        server.start()
        seen["up"] = time.monotonic()

    try:
        end = _outage_during_training(h, outage)
        assert seen["up"] - seen["down"] >= 3.0
        _assert_succeeded_whole(h, end)
        took = (datetime.fromisoformat(end["finished_at"])
                - datetime.fromisoformat(end["started_at"])).total_seconds()
        print(f"Redis down {seen['up'] - seen['down']:.1f} s during training: job "
              f"{end['status']} in {took:.1f} s, {len(end['history'])} epochs recorded")
    finally:
        h.close()
        if server.proc and server.proc.poll() is None:
            server.kill()


def test_a_locked_sqlite_job_store_does_not_kill_the_job(tmp_path):
    # Longer than SQLite's 10 s busy timeout, so writes fail rather than wait it out;
    # shorter than the heartbeat timeout.
    h = Harness(tmp_path, "sqlite", "nnserve")
    h.configure(heartbeat_timeout=30.0)

    def outage() -> None:
        conn = sqlite3.connect(tmp_path / "jobs.sqlite3", isolation_level=None, timeout=30)
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(11.5)
        conn.execute("COMMIT")
        conn.close()

    try:
        _assert_succeeded_whole(h, _outage_during_training(h, outage))
    finally:
        h.close()


def test_a_failure_during_an_outage_is_recorded_with_its_reason_once_the_store_is_back(
        tmp_path):
    h = Harness(tmp_path, "sqlite", "nnserve")
    h.configure(heartbeat_timeout=30.0, job_timeout=2.0)
    X, y = data()
    job, _ = h.svc.submit("iris", X, y, {**LONG, "epochs": 50_000})
    h.start_worker()
    h.training(job["job_id"])
    conn = sqlite3.connect(tmp_path / "jobs.sqlite3", isolation_level=None, timeout=30)
    conn.execute("BEGIN EXCLUSIVE")  # the job times out while its store cannot be written
    time.sleep(12.0)
    assert h.svc.get(job["job_id"])["status"] == "running"
    conn.execute("COMMIT")
    conn.close()
    try:
        end = h.finished(job["job_id"], timeout=30)
        assert end["status"] == "failed" and end["error"]["type"] == "timeout", end["error"]
    finally:
        h.close()


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(") ", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                pass
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_kill_9_of_the_server_takes_its_training_worker_along(tmp_path):
    server = start_server(tmp_path / "store", workers=1, heartbeat_interval=0.2)
    try:
        X, y = data()
        body = {"model": "iris", "data": {"features": X.tolist(), "labels": y.tolist()},
                "params": {**LONG, "epochs": 10_000}}
        job = requests.post(f"{server.url}/train", json=body, timeout=30).json()
        assert "job_id" in job, job
        deadline = time.monotonic() + 30
        while requests.get(f"{server.url}/jobs/{job['job_id']}",
                           timeout=10).json()["status"] != "running":
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)
        worker = next(p for p in _children(server.proc.pid) if "service.cli worker" in
                      _cmdline(p))
        trainers = _children(worker)
        assert trainers, "the worker has no training process"
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(map(_alive, [worker, *trainers])) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_alive, [worker, *trainers])), "the worker outlived its server"
    finally:
        server.stop(signal.SIGKILL)
        try:  # the whole session, orphans included, whatever the test found
            os.killpg(server.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_job_timeout_stops_training_inside_a_long_epoch(tmp_path):
    h = Harness(tmp_path, "sqlite", "nnserve")
    h.configure(job_timeout=0.5)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(4000, 100)), np.arange(4000) % 3  # epochs of seconds each
    job, _ = h.svc.submit("iris", X, y, {"hidden_layers": [512, 512], "epochs": 5,
                                         "batch_size": 32, "validation_split": 0.0,
                                         "early_stopping": False})
    h.start_worker()
    try:
        end = h.finished(job["job_id"], timeout=60)
        assert end["status"] == "failed" and end["error"]["type"] == "timeout", end["error"]
        assert end["history"] == [], "not stopped until an epoch ended"
        assert "after 0 epochs" in end["error"]["message"]
        started = datetime.fromisoformat(end["started_at"])
        assert (datetime.fromisoformat(end["finished_at"]) - started).total_seconds() < 2.5
        assert h.versions("iris") == []
    finally:
        h.close()


def test_a_job_taken_while_its_store_is_locked_still_runs(tmp_path):
    # the worker dequeues the message while no record can be written: it must not drop the job
    h = Harness(tmp_path, "sqlite", "nnserve")
    h.configure(heartbeat_timeout=30.0)
    X, y = data(60)
    job, _ = h.svc.submit("iris", X, y, {"hidden_layers": [8], "epochs": 5})
    conn = sqlite3.connect(tmp_path / "jobs.sqlite3", isolation_level=None, timeout=30)
    conn.execute("BEGIN EXCLUSIVE")
    h.start_worker()
    time.sleep(11.5)  # beyond SQLite's 10 s busy timeout
    conn.execute("COMMIT")
    conn.close()
    try:
        end = h.finished(job["job_id"], timeout=30)
        assert end["status"] == "succeeded", end
    finally:
        h.close()
