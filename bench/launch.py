"""A real ``nnserve serve`` on loopback for the benchmarks, started as an operator would start it
(the benchmarks use no test code)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    """One ``nnserve serve`` process group at ``url``."""

    url: str
    proc: subprocess.Popen
    log: Path

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def start_server(store: Path, log_dir: Path, workers: int = 2, timeout: float = 30.0) -> Server:
    """``nnserve serve`` with its embedded training worker on a free loopback port, once
    ``/healthz`` answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNSERVE_")}
    env.update(NNSERVE_STORE=str(store), NNSERVE_PORT=str(port), NNSERVE_WORKERS=str(workers),
               PYTHONPATH=str(ROOT))
    log = log_dir / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=ROOT)
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(server.url + "/healthz", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"nnserve did not start:\n{log.read_text(errors='replace')[-4000:]}")


def wait_job(url: str, job_id: str, timeout: float = 120.0) -> dict:
    """Poll ``GET /jobs/<id>`` until the job leaves queued/running."""
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(f"{url}/jobs/{job_id}", timeout=10).json()
        if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)
