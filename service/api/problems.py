"""The one place our own API maps errors to HTTP: RFC 9457 ``application/problem+json``.

Domain errors carry their status; werkzeug's HTTP errors (404 for an unknown route, 405, 413 from
the server) get the same body shape; anything unexpected is logged and answered 500 without
internals. The TF Serving and KServe blueprints map errors to ``{"error": ...}`` themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from service.api.body import flatten_messages
from service.errors import ServiceError, from_infrastructure

log = logging.getLogger("nnserve.errors")

PROBLEM_JSON = "application/problem+json"

# Blueprints registered here answer errors in their own protocol's shape.
Renderer = Callable[[ServiceError], Response]
_protocol_renderers: dict[str, Renderer] = {}


def register_protocol_errors(url_prefix: str, render: Renderer) -> None:
    """Let a protocol blueprint mounted at ``url_prefix`` render its own error bodies.

    ``render(error: ServiceError) -> Response``.
    """
    _protocol_renderers[url_prefix] = render


def problem_response(error: ServiceError) -> Response:
    resp = Response(orjson.dumps(error.to_problem()), status=error.status, mimetype=PROBLEM_JSON)
    for name, value in error.headers.items():
        resp.headers[name] = value
    return resp


def _render(error: ServiceError) -> Response:
    for prefix, render in _protocol_renderers.items():
        if request.path.startswith(prefix):
            return render(error)
    return problem_response(error)


def _from_http(exc: HTTPException) -> ServiceError:
    error = ServiceError(exc.description or exc.name)
    error.status, error.title = exc.code or 500, exc.name
    error.slug = exc.name.lower().replace(" ", "-")
    messages = (getattr(exc, "data", None) or {}).get("messages")
    if messages:  # webargs (query-string schemas): {"query": {"limit": ["..."]}}
        flat: dict[str, list[str]] = {}
        for location_messages in messages.values():
            flat.update(flatten_messages(location_messages))
        error.errors = flat
        error.detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in flat.items())
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        error.headers = {"Allow": ", ".join(exc.valid_methods)}
    return error


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        return _render(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return _render(_from_http(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        known = from_infrastructure(exc)
        if known is not None:
            log.warning("%s %s: %s", request.method, request.path, known.detail)
            return _render(known)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _render(ServiceError("the server failed to handle this request; "
                                    "it has been logged"))
