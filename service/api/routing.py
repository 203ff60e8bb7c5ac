"""The HTTP side of canary routing: ``X-Routing-Key`` in, ``X-Model-Version`` out.

Every protocol resolves a weighted alias through the one store/cache path; ``begin_request``
hands it the request's routing key and ``end_request`` names the version that answered (TF
Serving's REST answers have no field for it) and times the request under that version. Both
run inside the edge's request hooks (``service.observability``), not as hooks of their own:
Flask pays for every hook it dispatches, on every request.
"""

from __future__ import annotations

from flask import Response, request

from service import metrics, routing

ROUTING_KEY_HEADER = "X-Routing-Key"
MODEL_VERSION_HEADER = "X-Model-Version"


def begin_request() -> None:
    """Hand the request's routing key to the store/cache path (None: route at random)."""
    routing.set_routing_key(request.headers.get(ROUTING_KEY_HEADER) or None)


def end_request(response: Response, seconds: float) -> None:
    """Name the version that answered a prediction, and time the request under it."""
    served = routing.served()
    if served is not None:
        model, version = served
        response.headers[MODEL_VERSION_HEADER] = str(version)
        metrics.record_prediction_latency(model, version, seconds)
