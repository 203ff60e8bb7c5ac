"""Real ``nnserve serve`` / ``nnserve worker`` processes on loopback for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nnserve_env(store: Path, **settings: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNSERVE_")}
    env["NNSERVE_STORE"] = str(store)
    env["PYTHONPATH"] = str(ROOT)
    for name, value in settings.items():
        env[f"NNSERVE_{name.upper()}"] = str(value)
    return env


@dataclass
class Server:
    """One ``nnserve serve`` process group; ``url`` is its base URL."""

    store: Path
    port: int
    proc: subprocess.Popen
    log: Path
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nnserve exited {self.proc.returncode}:\n{self.output()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"nnserve not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def start_server(store: Path, *args: str, log_dir: Path | None = None,
                 argv: list[str] | None = None, **settings: object) -> Server:
    """Start ``nnserve serve`` (2 gunicorn workers + the embedded worker unless --no-worker);
    ``argv`` replaces the command line (e.g. to start it inside a namespace)."""
    port = free_port()
    settings.setdefault("workers", 2)
    log = (log_dir or store.parent) / f"serve-{port}.log"
    env = nnserve_env(store, port=port, **settings)
    argv = argv or [sys.executable, "-m", "service.cli", "serve", *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=ROOT)
    server = Server(store, port, proc, log)
    try:
        server.wait_ready()
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


def start_worker(store: Path, *args: str, log_dir: Path | None = None,
                 **settings: object) -> subprocess.Popen:
    log = (log_dir or store.parent) / f"worker-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "service.cli", "worker", *args],
                                env=nnserve_env(store, **settings), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)


def wait_job(url: str, job_id: str, timeout: float = 120.0, headers: dict | None = None) -> dict:
    """Poll ``GET /jobs/<id>`` until the job leaves queued/running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{url}/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise TimeoutError(f"job {job_id} still {job['status']} after {timeout}s")
