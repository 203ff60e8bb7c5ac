"""Operations: Prometheus metrics, JSON logs (one object per line on stderr) and request ids.

Metrics are correct across processes with prometheus_client's multiprocess mode: gunicorn's
master calls :func:`on_starting` (an empty ``PROMETHEUS_MULTIPROC_DIR``, inherited by the workers
and the embedded training worker), :func:`child_exit` and :func:`on_exit`; ``GET /metrics`` merges
every process's files. prometheus_client fixes its mode when first imported, so this module
imports it lazily, never before the variable is set. Without it (tests, one process) the default
registry is exposed.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from flask import Flask, Response, g, has_request_context, request

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # the endpoint label of requests no URL rule matched
TRAINING_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

log = logging.getLogger("nnserve")
_request_log = logging.getLogger("nnserve.request")
_event_log = logging.getLogger("nnserve.events")

Source = Callable[[], float | int | None]
_sources: dict[str, Source | None] = {"models_loaded": None, "queue_depth": None}
_owned_dir: Path | None = None  # the temporary metrics directory this process created
_lock = threading.Lock()


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

        disable_created_metrics()  # no *_created series: the same output as multiprocess mode
        http = ["method", "endpoint", "status"]
        self.requests = Counter("nnserve_http_requests", "HTTP requests answered.", http)
        self.latency = Histogram("nnserve_http_request_duration_seconds",
                                 "Seconds from request to response.", http)
        self.predictions = Counter("nnserve_predictions", "Prediction requests answered.",
                                   ["model", "version"])
        self.rows = Counter("nnserve_predicted_rows", "Rows predicted.", ["model", "version"])
        self.jobs = Counter("nnserve_training_jobs", "Training jobs finished, by final status.",
                            ["status"])
        self.training = Histogram("nnserve_training_duration_seconds",
                                  "Seconds finished training jobs ran.", ["status"],
                                  buckets=TRAINING_BUCKETS)
        self.models_loaded = Gauge("nnserve_models_loaded", "Model versions loaded in caches.",
                                   multiprocess_mode="livesum")


_metrics: _Metrics | None = None
_default_registered = False  # the scrape-time collector, in single-process mode


def _get_metrics() -> _Metrics:
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = _Metrics()
    return _metrics


def multiprocess_enabled() -> bool:
    """Whether prometheus_client runs in multiprocess mode in this process (imports it)."""
    from prometheus_client import values

    return _is_multiprocess(values)


def _is_multiprocess(values: Any) -> bool:
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class _ScrapeTimeCollector:
    """``nnserve_queue_depth`` read from its source at each scrape (the job store is shared)."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        value = _call_source("queue_depth")
        if value is not None:
            yield GaugeMetricFamily("nnserve_queue_depth", "Training jobs queued, not started.",
                                    value=float(value))


_scrape_collector = _ScrapeTimeCollector()


def exposition_registry() -> Any:
    """What to expose: every process's files in multiprocess mode, else the default registry."""
    global _default_registered
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    _get_metrics()
    if multiprocess_enabled():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(_scrape_collector)
        return registry
    with _lock:
        if not _default_registered:
            REGISTRY.register(_scrape_collector)
            _default_registered = True
    return REGISTRY


def record_prediction(model: str, version: int | str, rows: int) -> None:
    """Count one answered prediction request of ``rows`` rows."""
    m = _get_metrics()
    m.predictions.labels(model, str(version)).inc()
    m.rows.labels(model, str(version)).inc(rows)


def record_job_finished(status: str, seconds: float | None) -> None:
    """Count a training job that reached its final ``status``; ``seconds`` it ran, if it did."""
    m = _get_metrics()
    m.jobs.labels(status).inc()
    if seconds is not None:
        m.training.labels(status).observe(seconds)


def job_finished(job: Mapping[str, Any]) -> None:
    """Metrics and a ``job_finished`` event for a job record that just reached its final status
    (once per job, right after the transition succeeded)."""
    started, finished = job.get("started_at"), job.get("finished_at")
    seconds = None
    if started and finished:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)) \
            .total_seconds()
    record_job_finished(job["status"], seconds)
    log_event("job_finished", level=logging.WARNING if job["status"] == "failed" else logging.INFO,
              job_id=job.get("job_id"), model=job.get("model"), status=job["status"],
              seconds=seconds, model_version=job.get("model_version"),
              error_type=(job.get("error") or {}).get("type"))


def set_models_loaded_source(source: Source | None) -> None:
    """``source()``, called in the app context after each request and at scrape time, returns
    this process's number of loaded model versions (None: unknown)."""
    _sources["models_loaded"] = source


def set_queue_depth_source(source: Source | None) -> None:
    """``source()``, called in the app context at scrape time, returns the queued job count."""
    _sources["queue_depth"] = source


def _call_source(name: str) -> float | int | None:
    source = _sources[name]
    try:
        return None if source is None else source()
    except Exception:  # a broken source must break neither requests nor the scrape
        log.warning("metrics source %s failed", name, exc_info=True)
        return None


def _update_models_loaded() -> None:
    value = _call_source("models_loaded")
    if value is not None:
        _get_metrics().models_loaded.set(value)


def metrics_view() -> Response:
    """``GET /metrics`` in the Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    _update_models_loaded()
    return Response(generate_latest(exposition_registry()), content_type=CONTENT_TYPE_LATEST)


def setup_multiprocess_dir(path: str | Path | None = None, *, wipe: bool = True) -> Path:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` to ``path`` (default: its current value, else a new
    temporary directory) and delete the ``*.db`` files there. Before prometheus_client loads."""
    global _owned_dir
    values = sys.modules.get("prometheus_client.values")
    if values is not None and not _is_multiprocess(values):
        raise RuntimeError(f"prometheus_client was imported before {MULTIPROC_ENV} was set: "
                           "its metrics would stay per process")
    chosen = path or os.environ.get(MULTIPROC_ENV)
    if chosen:
        directory = Path(chosen)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db") if wipe else ():
            stale.unlink()
    else:
        directory = _owned_dir = Path(tempfile.mkdtemp(prefix="nnserve-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def on_starting(server: Any) -> None:
    """gunicorn ``on_starting``: an empty metrics directory for this run, before any fork."""
    directory = setup_multiprocess_dir()
    # Imported here, not first in child_exit: that runs in a SIGCHLD handler, and a second
    # signal during the first import re-enters it half done (ImportError: the master dies).
    import prometheus_client.multiprocess  # noqa: F401
    server.log.info("metrics directory %s", directory)


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn ``child_exit``: drop the dead worker's live gauges (its counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any = None) -> None:
    """gunicorn ``on_exit`` (call it last): remove the temporary metrics directory, if any."""
    global _owned_dir
    if _owned_dir is not None:
        shutil.rmtree(_owned_dir, ignore_errors=True)
        _owned_dir = None


def init_worker_metrics(port: int, host: str) -> Path | None:
    """``nnserve worker``, before any job process starts: serve the metrics of this worker's
    processes at ``http://host:port/metrics``. Nothing when ``port`` is 0."""
    if not port:
        return None
    directory = setup_multiprocess_dir(wipe=False)
    atexit.register(on_exit)
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=exposition_registry())
    return directory


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, pid, message, then the record's fields
    (``extra={"fields": {...}}``) and, inside a request, its request_id."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "pid": record.process,
            "message": record.getMessage()}
        for key, value in (getattr(record, "fields", None) or {}).items():
            payload.setdefault(key, value)
        if "request_id" not in payload and has_request_context() and g.get("request_id"):
            payload["request_id"] = g.request_id
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(payload, default=str,
                            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (pytest swaps it)."""

    stream = property(lambda self: sys.stderr, lambda self, value: None)


def configure_logging(level: str | int = "INFO") -> None:
    """Make the root logger write JSON lines on stderr at ``level`` (idempotent)."""
    root = logging.getLogger()
    root.setLevel(level.upper() if isinstance(level, str) else level)
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)


def gunicorn_logconfig(level: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its error log and the root logger as JSON lines on
    stderr; its access log off (the app logs each request)."""
    level = level.upper()
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": {"class": f"{__name__}.StderrHandler", "formatter": "json"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False}},
    }


def log_event(event: str, /, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event (e.g. ``job_finished``) with its fields."""
    _event_log.log(level, event, extra={"fields": {"event": event, **fields}})


def _before_request() -> None:
    g._obs_start = time.perf_counter()
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def _after_request(response: Response) -> Response:
    if "request_id" not in g:  # a hook inserted ahead of ours answered the request
        _before_request()
    seconds = time.perf_counter() - g._obs_start
    response.headers[REQUEST_ID_HEADER] = g.request_id
    method = request.method if request.method in _METHODS else "OTHER"
    endpoint = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    m = _get_metrics()
    m.requests.labels(method, endpoint, str(response.status_code)).inc()
    m.latency.labels(method, endpoint, str(response.status_code)).observe(seconds)
    _update_models_loaded()
    _request_log.info("request", extra={"fields": {
        "event": "request", "method": request.method, "path": request.path,
        "endpoint": endpoint, "status": response.status_code,
        "duration_ms": round(seconds * 1000, 3), "request_id": g.request_id,
        "remote_addr": request.remote_addr}})
    return response


def init_app(app: Flask) -> None:
    """Request ids, request metrics and logs, and ``GET /metrics`` (a plain route, not in the
    OpenAPI spec). Our hooks run first before, and last after, every request."""
    app.before_request_funcs.setdefault(None, []).insert(0, _before_request)
    app.after_request_funcs.setdefault(None, []).insert(0, _after_request)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=metrics_view, methods=["GET"])
