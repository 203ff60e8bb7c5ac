"""A full or read-only store: training fails clearly, predictions of existing versions go on,
/readyz stays ready and says what is wrong. The store lives on a real small tmpfs (tests run as
root here)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import redis
import requests
from sklearn.datasets import load_iris

from tests.server import start_server, wait_job

pytestmark = [pytest.mark.e2e, pytest.mark.redis]
REDIS_URL = "redis://127.0.0.1:6379/13"
X, Y = load_iris(return_X_y=True)


@pytest.fixture
def disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=True)


def _fill(path, leave_bytes: int) -> None:
    """Write ``path`` until the disk is full, then give back ``leave_bytes``."""
    with open(path, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    size = path.stat().st_size
    with open(path, "r+b") as out:
        out.truncate(max(0, size - leave_bytes))


def _train(url: str, **params) -> requests.Response:
    return requests.post(f"{url}/train", timeout=30, json={
        "model": "iris", "params": params,
        "data": {"features": X.tolist(), "labels": Y.tolist()}})


def _predicts(url: str) -> None:
    resp = requests.post(f"{url}/predict", json={"model": "iris", "version": 1,
                                                  "instances": X[:4].tolist()}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert np.allclose(np.sum(resp.json()["probabilities"], axis=1), 1, atol=1e-5)


def test_full_and_read_only_store(disk, tmp_path):
    redis.Redis.from_url(REDIS_URL).flushdb()
    server = start_server(disk / "store", log_dir=tmp_path, queue=REDIS_URL)
    filler = disk / "filler"
    try:
        assert wait_job(server.url, _train(server.url, epochs=3).json()["job_id"]
                        )["model_version"] == 1

        # Room for the dataset but not for a 4 MB artifact: the job fails and says why.
        _fill(filler, leave_bytes=1 << 20)
        resp = _train(server.url, epochs=1, hidden_layers=[1024, 1024])
        assert resp.status_code == 202, resp.text
        job = wait_job(server.url, resp.json()["job_id"])
        assert job["status"] == "failed" and job["error"]["type"] == "store_error", job
        assert "No space left" in job["error"]["message"]
        assert requests.get(f"{server.url}/models/iris").json()["versions"] == [1]
        assert not [p for p in (disk / "store" / "models" / "iris").iterdir()
                    if p.name.startswith(".tmp")]
        _predicts(server.url)

        # Completely full: still ready (it serves predictions), degraded, the gauge at 0,
        # submissions get 507, predictions still work; no server path in the answer.
        _fill(disk / "filler2", leave_bytes=0)
        ready = requests.get(f"{server.url}/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert not ready.json()["checks"]["store"]["ok"] and ready.json()["checks"]["models"]["ok"]
        assert "No space left" in ready.json()["checks"]["store"]["detail"]
        assert str(disk) not in ready.text
        assert "\nnnserve_store_writable 0.0\n" in requests.get(f"{server.url}/metrics").text
        resp = _train(server.url, epochs=1)
        assert resp.status_code == 507, resp.text
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert "full" in resp.json()["detail"]
        _predicts(server.url)

        # Read-only: degraded as well, submissions get 503, predictions still work.
        (disk / "filler2").unlink()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        ready = requests.get(f"{server.url}/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert "Read-only" in ready.json()["checks"]["store"]["detail"]
        assert str(disk) not in ready.text
        resp = _train(server.url, epochs=1)
        assert resp.status_code == 503 and "cannot be written" in resp.json()["detail"]
        _predicts(server.url)

        # Writable again: everything comes back; numbering goes on past the number the failed
        # publish had allocated (never reused).
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        filler.unlink()
        ready = requests.get(f"{server.url}/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ok", ready.text
        assert "\nnnserve_store_writable 1.0\n" in requests.get(f"{server.url}/metrics").text
        job = wait_job(server.url, _train(server.url, epochs=3).json()["job_id"])
        assert job["status"] == "succeeded" and job["model_version"] == 3, job
        assert requests.get(f"{server.url}/models/iris").json()["versions"] == [1, 3]
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=False)
        server.stop()
