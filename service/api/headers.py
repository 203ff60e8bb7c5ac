"""Headers on every answer: no MIME sniffing, and no caching of errors or of what a key guards."""

from __future__ import annotations

from flask import Flask, Response, request

from service.auth import required_scope


def _add_headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Predictions, models, jobs and errors must not be kept by a browser or a shared cache; the
    # open routes (health, metrics, the spec and the docs page) may be.
    if response.status_code >= 400 or required_scope(request.endpoint, request.method):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.after_request(_add_headers)
