"""Real worker processes (``run_worker`` in a subprocess) training real jobs, on both backends:
success and versions, cancel, timeout, store errors, kill -9 and SIGTERM/SIGINT shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from service.config import Settings
from service.errors import Conflict, NotFound
from service.jobs import JobService
from service.store import ModelStore

ROOT = Path(__file__).resolve().parents[1]
FAST = {"heartbeat_interval": 0.2, "heartbeat_timeout": 2.0, "graceful_timeout": 2}
SMALL = {"hidden_layers": [8], "epochs": 5, "batch_size": 16}
# One step per row keeps an epoch a few ms long: with one batch per epoch a fast machine ran the
# 100 000 epochs in ~5 s, and the flood of history rows delayed heartbeats past the 2 s timeout.
ENDLESS = {"hidden_layers": [8], "epochs": 100_000, "batch_size": 1, "early_stopping": False,
           "validation_split": 0.0}
WORKER = """
import json, logging, sys
from service.config import Settings
from service.jobs.worker import run_worker
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(message)s")
run_worker(Settings.from_env(json.loads(sys.argv[1]), environ={}), namespace=sys.argv[2])
"""


def tiny_data(rows: int = 60, classes: int = 3, features: int = 4):
    rng = np.random.default_rng(0)
    y = np.arange(rows) % classes
    return rng.normal(size=(rows, features)) + y[:, None] * 2.0, y


class Harness:
    """A JobService plus worker subprocesses sharing one store and queue."""

    def __init__(self, tmp_path: Path, queue: str, namespace: str) -> None:
        self.tmp_path, self.queue, self.namespace = tmp_path, queue, namespace
        self.procs: list[subprocess.Popen] = []
        self.configure()

    def configure(self, **overrides) -> None:
        self.overrides = {"store": str(self.tmp_path), "queue": self.queue, **FAST, **overrides}
        self.settings = Settings.from_env(self.overrides, environ={})
        self.store = ModelStore(self.settings.store)
        self.svc = JobService(self.settings, self.store, namespace=self.namespace)

    def start_worker(self, concurrency: int = 1) -> subprocess.Popen:
        overrides = {**self.overrides, "worker_concurrency": concurrency}
        with open(self.tmp_path / f"worker-{len(self.procs)}.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(overrides),
                                     self.namespace], cwd=ROOT, stdout=log, stderr=log,
                                    start_new_session=True)
        self.procs.append(proc)
        return proc

    def wait(self, job_id: str, predicate, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.svc.get(job_id)
            if predicate(job):
                return job
            if time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-3000:] for p in self.tmp_path.glob("worker-*.log"))
                raise AssertionError(f"timed out; job is {job}\n{logs}")
            time.sleep(0.05)

    def finished(self, job_id: str, timeout: float = 20.0) -> dict:
        return self.wait(job_id, lambda j: j["status"] in ("succeeded", "failed", "cancelled"),
                         timeout)

    def training(self, job_id: str) -> dict:
        return self.wait(job_id, lambda j: j["status"] == "running" and j["progress"]["epoch"] > 0)

    def versions(self, model: str) -> list[int]:
        try:
            return self.store.versions(model)
        except NotFound:
            return []

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # our own session: the worker and its children
            proc.wait(timeout=10)


@pytest.fixture
def harness(tmp_path, backend):
    h = Harness(tmp_path, *backend)
    yield h
    h.close()


def _dataset_files(h: Harness) -> list[Path]:
    return list((h.tmp_path / "datasets").glob("*.npz"))


def test_train_publish_two_versions_and_skip_cancelled(harness):
    h = harness
    X, y = tiny_data()
    skipped, _ = h.svc.submit("iris", X, y, SMALL)
    assert h.svc.cancel(skipped["job_id"])[1]  # cancelled while queued, no worker yet
    job, _ = h.svc.submit("iris", X, y, SMALL, feature_names=["a", "b", "c", "d"])
    h.start_worker()
    done = h.finished(job["job_id"])
    assert done["status"] == "succeeded", done
    assert done["model_version"] == 1 and done["error"] is None and done["attempts"] == 1
    assert done["progress"]["epoch"] == 5 and done["progress"]["epochs"] == 5
    assert done["progress"]["loss"] is not None and done["progress"]["val_accuracy"] is not None
    assert [e["epoch"] for e in done["history"]] == [1, 2, 3, 4, 5]
    assert done["started_at"] and done["finished_at"] and done["worker"]
    meta = h.store.meta("iris", 1)
    assert meta["job_id"] == job["job_id"] and meta["classes"] == [0, 1, 2]
    assert meta["feature_names"] == ["a", "b", "c", "d"] and meta["n_features"] == 4
    assert meta["dataset"]["rows"] == 60 and len(meta["history"]) == 5
    assert set(meta["metrics"]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert _dataset_files(h) == []
    with pytest.raises(Conflict):
        h.svc.cancel(job["job_id"])

    second, _ = h.svc.submit("iris", X, y, SMALL)
    assert h.finished(second["job_id"])["model_version"] == 2
    assert h.versions("iris") == [1, 2]
    assert h.svc.get(skipped["job_id"])["status"] == "cancelled"


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def test_training_runs_at_idle_priority(harness):
    """The worker and the process training a job yield their core to the API processes."""
    h = harness
    X, y = tiny_data()
    job, _ = h.svc.submit("iris", X, y, ENDLESS)
    worker = h.start_worker()
    h.training(job["job_id"])
    pids = [worker.pid, *_children(worker.pid)]
    assert len(pids) >= 2, pids  # the consumer and its training process
    for pid in pids:
        assert os.getpriority(os.PRIO_PROCESS, pid) == 19
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE


def test_cancel_running_job_publishes_nothing(harness):
    h = harness
    X, y = tiny_data()
    job, _ = h.svc.submit("iris", X, y, ENDLESS)
    h.start_worker()
    h.training(job["job_id"])
    requested, done = h.svc.cancel(job["job_id"])
    assert not done and requested["cancel_requested"]
    t0 = time.monotonic()
    end = h.finished(job["job_id"], timeout=10)
    assert end["status"] == "cancelled" and time.monotonic() - t0 < 5
    assert end["model_version"] is None and end["history"]
    assert h.versions("iris") == [] and _dataset_files(h) == []


def test_job_timeout_fails_with_type_timeout(harness):
    h = harness
    h.configure(job_timeout=0.5)
    X, y = tiny_data()
    job, _ = h.svc.submit("iris", X, y, ENDLESS)
    h.start_worker()
    end = h.finished(job["job_id"])
    assert end["status"] == "failed" and end["error"]["type"] == "timeout", end
    assert "job_timeout" in end["error"]["message"]
    assert h.versions("iris") == []


def test_kill_9_of_the_training_process_is_worker_lost(harness):
    h = harness
    X, y = tiny_data()
    job, _ = h.svc.submit("iris", X, y, ENDLESS)
    h.start_worker()
    running = h.training(job["job_id"])
    child = int(running["worker"].rsplit(":", 1)[1])
    os.kill(child, signal.SIGKILL)
    t0 = time.monotonic()
    while (end := h.svc.job_store.get(job["job_id"]))["status"] == "running":  # no lazy reaping:
        assert time.monotonic() - t0 < 10, "the consumer's reaper did not fail the job"
        time.sleep(0.05)
    assert end["status"] == "failed" and end["error"]["type"] == "worker_lost", end
    assert time.monotonic() - t0 >= 1.0  # only after the heartbeat went stale (2 s)
    assert "heartbeat" in end["error"]["message"]
    assert h.versions("iris") == [] and _dataset_files(h) == []
    # the consumer replaced its dead process and goes on serving the queue
    h.configure(job_timeout=3600)
    nxt, _ = h.svc.submit("iris", X, y, SMALL)
    assert h.finished(nxt["job_id"], timeout=20)["model_version"] == 1


def test_kill_9_of_the_consumer_takes_its_workers_along(tmp_path):
    h = Harness(tmp_path, "sqlite", "nnserve")
    try:
        X, y = tiny_data()
        job, _ = h.svc.submit("iris", X, y, ENDLESS)
        proc = h.start_worker()
        running = h.training(job["job_id"])
        child = int(running["worker"].rsplit(":", 1)[1])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the training process outlived its consumer"
        h.start_worker()  # reads never reap: a live worker's reaper fails the job
        end = h.wait(job["job_id"], lambda j: j["status"] != "running", timeout=10)
        assert end["error"]["type"] == "worker_lost" and h.versions("iris") == []
    finally:
        h.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_worker_fails_its_running_job(harness, signum):
    h = harness
    X, y = tiny_data()
    job, _ = h.svc.submit("iris", X, y, ENDLESS)
    proc = h.start_worker()
    h.training(job["job_id"])
    proc.send_signal(signum)
    assert proc.wait(timeout=15) == 0
    end = h.svc.job_store.get(job["job_id"])  # recorded by the worker itself, not reaped
    assert end["status"] == "failed" and end["error"]["type"] == "worker_shutdown", end
    assert h.versions("iris") == [] and _dataset_files(h) == []


def test_store_error_fails_the_job(tmp_path):
    h = Harness(tmp_path, "sqlite", "nnserve")
    try:
        (tmp_path / "models" / "iris").write_text("not a directory")
        X, y = tiny_data()
        job, _ = h.svc.submit("iris", X, y, SMALL)
        h.start_worker()
        end = h.finished(job["job_id"])
        assert end["status"] == "failed" and end["error"]["type"] == "store_error", end
        assert "store" in end["error"]["message"] and _dataset_files(h) == []
        assert str(tmp_path) not in end["error"]["message"]  # paths relative to the store
    finally:
        h.close()
