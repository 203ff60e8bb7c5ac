"""Debian's nginx in front of a test server, with the config docker-compose.yml ships.

The shipped file is taken as it is; only its upstream and listen address are pointed at loopback
ports, and a main config around it gives nginx a private prefix (pid, logs, temporary files).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "nginx" / "nnserve.conf"


def nginx_binary() -> str:
    """Debian's nginx; its absence fails the test (``.ci/run`` installs it)."""
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                     else None)
    assert path, "nginx is not installed (apt-get install nginx; .ci/run does)"
    return path


def render(prefix: Path, upstream_port: int, listen_port: int) -> Path:
    """Write ``prefix/nginx.conf`` around the shipped server block; return its path."""
    server = CONFIG.read_text()
    server, n_up = re.subn(r"server api:8000;", f"server 127.0.0.1:{upstream_port};", server)
    server, n_listen = re.subn(r"listen 8080;", f"listen 127.0.0.1:{listen_port};", server)
    assert n_up == 1 and n_listen == 1, "deploy/nginx/nnserve.conf changed its upstream/listen"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    (prefix / "nnserve.conf").write_text(server)
    main = prefix / "nginx.conf"
    main.write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/nnserve.conf;
}}
""")
    return main


def check(main: Path) -> subprocess.CompletedProcess:
    """``nginx -t`` on a rendered config."""
    return subprocess.run([nginx_binary(), "-t", "-c", str(main)], capture_output=True,
                          text=True, timeout=30)


@dataclass
class FrontDoor:
    proc: subprocess.Popen
    url: str
    prefix: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(prefix: Path, upstream_port: int, listen_port: int) -> FrontDoor:
    main = render(prefix, upstream_port, listen_port)
    checked = check(main)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([nginx_binary(), "-c", str(main)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    door = FrontDoor(proc, f"http://127.0.0.1:{listen_port}", prefix)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if requests.get(door.url + "/healthz", timeout=1).status_code == 200:
                return door
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    door.stop()
    log = (prefix / "logs" / "error.log")
    raise RuntimeError(f"nginx did not come up: {log.read_text() if log.exists() else ''}")
