"""Operations at the HTTP edge: JSON logs (one object per line on stderr), request ids, and
``GET /metrics`` (the metrics themselves live in :mod:`service.metrics`); the edge's request
hooks also carry the canary routing key in and the serving version out
(:mod:`service.api.routing`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from service.api import routing as canary_routing
from service.logs import (  # noqa: F401  (re-exported: the app, gunicorn config and tests use them)
    JsonFormatter,
    StderrHandler,
    configure_logging,
    gunicorn_logconfig,
    log_event,
)
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


def metrics_view() -> Response:
    """``GET /metrics`` in the Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    _update_models_loaded()
    return Response(generate_latest(exposition_registry()), content_type=CONTENT_TYPE_LATEST)


def _before_request() -> None:
    g._obs_start = time.perf_counter()
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    canary_routing.begin_request()


def _after_request(response: Response) -> Response:
    if "request_id" not in g:  # a hook inserted ahead of ours answered the request
        _before_request()
    seconds = time.perf_counter() - g._obs_start
    response.headers[REQUEST_ID_HEADER] = g.request_id
    canary_routing.end_request(response, seconds)
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
