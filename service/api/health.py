"""``GET /healthz`` (process alive) and ``GET /readyz`` (can serve predictions).

Readiness is about serving: a replica that can read the model store answers predictions, so it
stays in the load balancer even when training cannot go on (a full or read-only store, an
unreachable queue). Those are reported as failing checks with the status ``degraded`` (and in
the ``nnserve_store_writable`` gauge), not as a 503 that would take every replica sharing the
volume out at once.
"""

from __future__ import annotations

from flask_smorest import Blueprint

from service.api.schemas import HealthSchema
from service.runtime import get_runtime

blp = Blueprint("health", __name__, description="Liveness and readiness")


@blp.route("/healthz", methods=["GET"])
@blp.response(200, HealthSchema)
def healthz() -> dict[str, object]:
    """The process is alive and answering."""
    return {"status": "ok", "checks": {}}


@blp.route("/readyz", methods=["GET"])
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema)
def readyz() -> tuple[dict[str, object], int]:
    """Ready to serve predictions: the model store can be read (else 503).

    ``checks.models``: the store can be read; ``checks.store``: it can be written (training can
    publish); ``checks.queue``: the job queue answers. ``status`` is ``ok``, ``degraded`` (ready,
    but training cannot go on) or ``unavailable``.
    """
    runtime = get_runtime()
    results = {"models": runtime.store.readable(), "store": runtime.store.writable(),
               "queue": runtime.jobs.ping()}
    checks = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in results.items()}
    if not checks["models"]["ok"]:
        return {"status": "unavailable", "checks": checks}, 503
    degraded = not all(check["ok"] for check in checks.values())
    return {"status": "degraded" if degraded else "ok", "checks": checks}, 200
