"""What every answer tells a stranger: security headers, readiness that means "can serve
predictions", and no server paths."""

from __future__ import annotations

import errno
import os
import tomllib
from pathlib import Path

import pytest

import service.store as store_mod
from service import create_app
from tests.protocol_models import ROWS

PREDICT = {"model": "iris", "instances": ROWS}
V2 = {"inputs": [{"name": "features", "shape": [3, 4], "datatype": "FP32", "data": ROWS}]}


def _answers(client) -> dict[str, object]:
    """One answer of each kind: success and error, every protocol, open and guarded routes."""
    return {
        "predict": client.post("/predict", json=PREDICT),
        "predict 422": client.post("/predict", json={"model": "iris", "instances": [[1]]}),
        "predict 415": client.post("/predict", data=b"{}", content_type="text/plain"),
        "models": client.get("/models/iris"),
        "jobs": client.get("/jobs"),
        "unknown route": client.get("/nope"),
        "405": client.put("/predict"),
        "v1": client.post("/v1/models/iris:predict", json={"instances": ROWS}),
        "v1 404": client.post("/v1/models/nope:predict", json={"instances": ROWS}),
        "v2": client.post("/v2/models/iris/infer", json=V2),
        "v2 400": client.post("/v2/models/iris/infer", data=b"{"),
        "healthz": client.get("/healthz"),
        "readyz": client.get("/readyz"),
        "metrics": client.get("/metrics"),
        "spec": client.get("/openapi.json"),
        "docs": client.get("/docs"),
    }


def test_every_answer_forbids_sniffing_and_errors_and_guarded_data_are_not_cached(client,
                                                                                   store):
    for what, resp in _answers(client).items():
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", what
        guarded = what.split()[0] in ("predict", "models", "jobs", "v1", "v2")
        if resp.status_code >= 400 or guarded:
            assert resp.headers.get("Cache-Control") == "no-store", (what, resp.status_code)
        else:
            assert "no-store" not in resp.headers.get("Cache-Control", ""), what


def test_answers_under_a_key_and_refusals_of_a_key_are_not_cached(settings_overrides, store):
    secured = create_app({**settings_overrides, "api_keys": "p-key:predict"}).test_client()
    refused = secured.post("/predict", json=PREDICT)
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    allowed = secured.post("/predict", json=PREDICT, headers={"Authorization": "Bearer p-key"})
    assert allowed.status_code == 200 and allowed.headers["Cache-Control"] == "no-store"
    assert "Cache-Control" not in secured.get("/healthz").headers


def _fail_writes(monkeypatch, code: int) -> None:
    def fail(path, data):
        raise OSError(code, os.strerror(code), str(path))  # as the kernel reports it: with the path

    monkeypatch.setattr(store_mod, "write_synced", fail)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_store_is_degraded_not_unready(client, store, monkeypatch, code):
    _fail_writes(monkeypatch, code)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    body = ready.get_json()
    assert body["status"] == "degraded"
    assert body["checks"]["models"] == {"ok": True, "detail": "ok"}
    assert body["checks"]["store"]["ok"] is False
    assert os.strerror(code) in body["checks"]["store"]["detail"]
    # No absolute path (nor any path) of the server in an unauthenticated answer.
    text = ready.get_data(as_text=True)
    assert str(store.root) not in text and "/" not in body["checks"]["store"]["detail"]
    # Predictions go on; the gauge says training cannot.
    assert client.post("/predict", json=PREDICT).status_code == 200
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "\nnnserve_store_writable 0.0\n" in metrics


def test_a_store_that_cannot_be_read_is_unready(client, store, monkeypatch):
    def unreadable(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(store_mod.os, "scandir", unreadable)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["status"] == "unavailable"
    detail = ready.get_json()["checks"]["models"]["detail"]
    assert "Permission denied" in detail and str(store.root) not in ready.get_data(as_text=True)


def test_a_healthy_store_is_ready_and_writable_in_metrics(client, store):
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ok"
    assert {check["ok"] for check in ready.get_json()["checks"].values()} == {True}
    assert "\nnnserve_store_writable 1.0\n" in client.get("/metrics").get_data(as_text=True)


def test_the_api_version_is_the_package_version(client):
    """One source: pyproject.toml's version, read from the installed package's metadata."""
    root = Path(__file__).resolve().parent.parent
    expected = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    assert client.get("/openapi.json").get_json()["info"]["version"] == expected
    assert client.get("/v2").get_json()["version"] == expected
    assert expected not in (root / "service" / "__init__.py").read_text()
