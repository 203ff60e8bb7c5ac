"""gunicorn configuration of ``nnserve serve``: sync request handling (gthread gave no more
throughput and a worse p99 here) behind a per-worker buffering loop that keeps slow clients from
holding a worker (``service.buffered_worker``).

Settings come from ``NNSERVE_*`` (``service.config``). When ``NNSERVE_EMBEDDED_WORKER`` is true
the training worker runs beside gunicorn: started once the arbiter is ready, stopped on exit —
never inside a request-serving worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

from gunicorn.glogging import Logger

from service import observability
from service.config import Settings

if TYPE_CHECKING:
    from datetime import timedelta

    from _typeshed.wsgi import WSGIEnvironment
    from gunicorn.arbiter import Arbiter
    from gunicorn.http.message import Request
    from gunicorn.http.wsgi import Response
    from gunicorn.workers.base import Worker

_settings = Settings.from_env()

# One BLAS thread per process (numpy is imported later, in the workers): the API's concurrency
# is its worker processes, and a BLAS thread pool per worker only makes them wake each other up
# (a 1024-row forward pass took 10x longer). The embedded training worker inherits it too,
# which leaves a core for predictions.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

_host = f"[{_settings.host}]" if ":" in _settings.host else _settings.host
bind = [f"{_host}:{_settings.port}"]
workers = _settings.workers
worker_class = "service.buffered_worker.BufferedWorker"
# X-Forwarded-Proto and friends only from the front door, like X-Forwarded-For (service.proxies).
forwarded_allow_ips = _settings.trusted_proxies or "127.0.0.1,::1"
graceful_timeout = _settings.graceful_timeout
timeout = 120
keepalive = 5


class AppLogsRequests(Logger):
    """gunicorn's logger, minus the access log: the app logs every request as a JSON line.

    With ``logconfig_dict`` set, gunicorn formats every request's access-log fields even with
    ``accesslog`` off, only for the disabled ``gunicorn.access`` logger to drop them (~13 us a
    request); an ``accesslog`` given on the command line is still honoured.
    """

    def access(self, resp: Response, req: Request, environ: WSGIEnvironment,
               request_time: timedelta) -> None:
        if self.cfg.accesslog:
            super().access(resp, req, environ, request_time)


# Requests are logged by the app as JSON lines; gunicorn logs only its own lifecycle.
accesslog = None
logger_class = AppLogsRequests
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "nnserve"
wsgi_app = "service:create_app()"
logconfig_dict = observability.gunicorn_logconfig(_settings.log_level, _settings.log_format)


def on_starting(server: Arbiter) -> None:
    observability.on_starting(server)


def child_exit(server: Arbiter, worker: Worker) -> None:
    observability.child_exit(server, worker)


def when_ready(server: Arbiter) -> None:
    if not _settings.embedded_worker:
        return
    server.log.info("starting the embedded training worker")
    server.nnserve_worker = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "worker", "--parent-pid", str(os.getpid())],
        env=dict(os.environ, NNSERVE_WORKER_METRICS_PORT="0"))


def on_exit(server: Arbiter) -> None:
    worker = getattr(server, "nnserve_worker", None)
    if worker is not None and worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=_settings.graceful_timeout + 5)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    observability.on_exit(server)
