"""Operations at the HTTP edge: JSON logs (one object per line on stderr), request ids, and
``GET /metrics`` (the metrics themselves live in :mod:`service.metrics`).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Flask, Response, g, has_request_context, request

from service.metrics import (  # noqa: F401  (re-exported: the gunicorn config and tests use them)
    MULTIPROC_ENV,
    _get_metrics,
    _update_models_loaded,
    child_exit,
    exposition_registry,
    init_worker_metrics,
    multiprocess_enabled,
    on_exit,
    on_starting,
    record_job_finished,
    record_prediction,
    set_models_loaded_source,
    set_queue_depth_source,
    setup_multiprocess_dir,
)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # the endpoint label of requests no URL rule matched

log = logging.getLogger("nnserve")
_request_log = logging.getLogger("nnserve.request")
_event_log = logging.getLogger("nnserve.events")


def metrics_view() -> Response:
    """``GET /metrics`` in the Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    _update_models_loaded()
    return Response(generate_latest(exposition_registry()), content_type=CONTENT_TYPE_LATEST)


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
