"""``GET /healthz`` (process alive) and ``GET /readyz`` (store writable, queue reachable)."""

from __future__ import annotations

from flask_smorest import Blueprint

from service.api.schemas import HealthSchema
from service.runtime import get_runtime

blp = Blueprint("health", __name__, description="Liveness and readiness")


@blp.route("/healthz", methods=["GET"])
@blp.response(200, HealthSchema)
def healthz() -> dict:
    """The process is alive and answering."""
    return {"status": "ok", "checks": {}}


@blp.route("/readyz", methods=["GET"])
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema)
def readyz() -> tuple[dict, int]:
    """Ready to serve: the store is writable and the job queue is reachable."""
    runtime = get_runtime()
    store_ok, store_detail = runtime.store.writable()
    queue_ok, queue_detail = runtime.jobs.ping()
    checks = {"store": {"ok": store_ok, "detail": store_detail},
              "queue": {"ok": queue_ok, "detail": queue_detail}}
    ok = store_ok and queue_ok
    return {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
