"""The HTTP side of canary routing: ``X-Routing-Key`` in, ``X-Model-Version`` out.

Every protocol resolves a weighted alias through the one store/cache path; this hook hands it
the request's routing key and, after a prediction, names the version that answered (TF
Serving's REST answers have no field for it) and times the request under that version.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from service import metrics, routing

ROUTING_KEY_HEADER = "X-Routing-Key"
MODEL_VERSION_HEADER = "X-Model-Version"


def _before_request() -> None:
    g._routing_start = time.perf_counter()
    routing.set_routing_key(request.headers.get(ROUTING_KEY_HEADER) or None)


def _after_request(response: Response) -> Response:
    served = routing.served()
    routing.set_routing_key(None)  # the worker thread's context outlives the request
    if served is not None:
        model, version = served
        response.headers[MODEL_VERSION_HEADER] = str(version)
        if "_routing_start" in g:
            metrics.record_prediction_latency(model, version,
                                              time.perf_counter() - g._routing_start)
    return response


def init_app(app: Flask) -> None:
    """Route weighted aliases by ``X-Routing-Key`` and report the serving version."""
    app.before_request(_before_request)
    app.after_request(_after_request)
