"""API keys and scopes; health stays open; serving beyond loopback needs keys or --insecure."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from service import create_app
from service.auth import KeyRing, required_scope

KEYS = "p-key:predict,t-key:train,a-key:admin,pt-key:predict+train"


@pytest.fixture
def secured(settings_overrides):
    return create_app({**settings_overrides, "api_keys": KEYS}).test_client()


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_open_endpoints_need_no_key(secured):
    for path in ("/healthz", "/openapi.json", "/docs"):
        assert secured.get(path).status_code == 200, path
    assert secured.get("/readyz").status_code == 200


def test_missing_or_wrong_key_is_401_with_challenge(secured):
    resp = secured.post("/predict", json={"model": "m", "instances": [[1]]})
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert secured.get("/models", headers=_auth("nope")).status_code == 401
    assert secured.get("/models", headers={"Authorization": "Basic abc"}).status_code == 401


@pytest.mark.parametrize("key, method, path, allowed", [
    ("p-key", "get", "/models", True),
    ("p-key", "get", "/jobs", False),
    ("t-key", "get", "/jobs", True),
    ("t-key", "get", "/models", False),
    ("p-key", "delete", "/models/m/versions/1", False),
    ("t-key", "put", "/models/m/aliases/prod", False),
    ("a-key", "get", "/jobs", True),
    ("a-key", "get", "/models", True),
    ("pt-key", "get", "/jobs", True),
    ("p-key", "get", "/models/m/versions/1/artifact", False),
])
def test_scopes(secured, key, method, path, allowed):
    status = getattr(secured, method)(path, headers=_auth(key), json={"version": 1}).status_code
    if allowed:
        assert status not in (401, 403)
    else:
        assert status == 403


def test_admin_deletes_and_predict_key_predicts(secured):
    body = {"model": "ghost", "instances": [[1.0]]}
    assert secured.post("/predict", json=body, headers=_auth("p-key")).status_code == 404
    assert secured.delete("/models/ghost/versions/1", headers=_auth("a-key")).status_code == 404


def test_key_file_holds_only_digests(tmp_path, settings_overrides):
    digest = hashlib.sha256(b"s3cret").hexdigest()
    path = tmp_path / "keys"
    path.write_text(f"# nnserve keys\n{digest}:train\n")
    client = create_app({**settings_overrides, "api_keys": f"@{path}"}).test_client()
    assert client.get("/jobs", headers=_auth("s3cret")).status_code == 200
    assert client.get("/jobs", headers=_auth(digest)).status_code == 401
    assert KeyRing.parse(f"@{path}").scopes_of("s3cret") == {"train"}


@pytest.mark.parametrize("spec", ["k", "k:", "k:root", ":predict"])
def test_bad_key_specs_are_refused(spec):
    with pytest.raises(ValueError, match="NNSERVE_API_KEYS"):
        KeyRing.parse(spec)


def test_required_scope_table():
    assert required_scope("health.healthz", "GET") is None
    assert required_scope("jobs.post_train", "POST") == "train"
    assert required_scope("predict.post_predict", "POST") == "predict"
    assert required_scope("models.delete_alias", "DELETE") == "admin"


def test_serve_refuses_public_address_without_keys(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "NNSERVE_STORE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "service.cli", "serve", "--host", "0.0.0.0"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "NNSERVE_API_KEYS" in out.stderr and "--insecure" in out.stderr
