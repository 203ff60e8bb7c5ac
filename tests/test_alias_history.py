"""Alias history and rollback: every move recorded with its key id and reason, rollback as an
undo stack, deleting versions the history names, the admin scope."""

from __future__ import annotations

import json

import pytest

from service import create_app
from service.aliases import HISTORY_FILE
from service.errors import Conflict
from service.handlers import aliases
from service.store import ModelStore
from tests.protocol_models import publish_models

KEYS = "ops:s3cret:admin,reader:r3ad:predict,trainer:tr4in:train,anon-admin:admin"


def _auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def secured(settings_overrides, store):
    app = create_app({**settings_overrides, "api_keys": KEYS})
    app.config["TESTING"] = True
    return app.test_client()


def test_every_move_is_recorded_with_key_id_and_reason(secured, store):
    admin = _auth("ops:s3cret")
    # publish_models pointed prod at v1 before any key existed
    assert secured.put("/models/iris/aliases/prod", json={"version": 2},
                       headers=admin).status_code == 200
    assert secured.put("/models/iris/aliases/prod", json={"versions": {"1": 90, "2": 10}},
                       headers=_auth("anon-admin")).status_code == 200
    resp = secured.get("/models/iris/aliases/prod/history", headers=_auth("reader:r3ad"))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["current"] == {"versions": {"1": 90, "2": 10}}
    newest, older, first = body["history"]
    assert (first["old"], first["new"], first["key_id"], first["reason"]) == (None, 1, None,
                                                                              "manual")
    assert (older["old"], older["new"], older["key_id"]) == (1, 2, "ops")
    assert (newest["old"], newest["new"], newest["key_id"]) == (2, {"versions": {"1": 90,
                                                                                 "2": 10}}, None)
    assert newest["seq"] > older["seq"] > first["seq"] and newest["time"] >= older["time"]
    raw = (store.root / "models/iris" / HISTORY_FILE).read_text()
    assert "s3cret" not in raw and "r3ad" not in raw  # never the secret


def test_a_move_to_the_same_target_is_not_recorded(store):
    store.set_alias("iris", "prod", 1)
    assert len(store.alias_history("iris", "prod")) == 1


def test_rollback_undoes_moves_like_a_stack(store):
    store.set_alias("iris", "prod", 2)
    aliases.move(store, "iris", "prod", aliases.target_of({"versions": {"1": 50, "2": 50}}),
                 "ops")
    back = aliases.rollback(store, "iris", "prod", "ops")
    assert back["version"] == 2 and back["history_entry"]["reason"] == "rollback"
    assert back["history_entry"]["key_id"] == "ops"
    assert aliases.rollback(store, "iris", "prod", None)["version"] == 1
    assert store.aliases("iris")["prod"] == 1
    with pytest.raises(Conflict, match="created alias 'prod'"):
        aliases.rollback(store, "iris", "prod", None)
    undone = [e["undoes"] for e in store.alias_history("iris", "prod") if "undoes" in e]
    assert len(undone) == 2 and undone[0] > undone[1]


def test_rollback_without_history_and_to_a_deleted_version_is_409(tmp_path, client, store):
    (store.root / "models/iris" / HISTORY_FILE).unlink()  # an alias file from before history
    resp = client.post("/models/iris/aliases/prod/rollback")
    assert resp.status_code == 409 and "no recorded move" in resp.get_json()["detail"]
    client.put("/models/iris/aliases/prod", json={"version": 2})
    client.put("/models/iris/aliases/other", json={"version": 2})
    client.delete("/models/iris/aliases/other")
    # v1 is named only by the history now: it may be deleted
    assert client.delete("/models/iris/versions/1").status_code == 204
    resp = client.post("/models/iris/aliases/prod/rollback")
    assert resp.status_code == 409 and "version 1" in resp.get_json()["detail"]
    assert store.aliases("iris")["prod"] == 2


def test_deleting_a_version_a_canary_points_at_is_409(client, store):
    client.put("/models/iris/aliases/prod", json={"versions": {"1": 80, "2": 20}})
    resp = client.delete("/models/iris/versions/2")
    assert resp.status_code == 409 and "prod" in resp.get_json()["detail"]


def test_history_of_a_deleted_alias_stays_and_an_unknown_alias_is_404(client, store):
    assert client.delete("/models/iris/aliases/prod").status_code == 204
    body = client.get("/models/iris/aliases/prod/history").get_json()
    assert body["current"] is None and body["history"][0]["new"] is None
    assert client.get("/models/iris/aliases/nope/history").status_code == 404
    assert client.get("/models/nope/aliases/prod/history").status_code == 404


def test_alias_moves_weights_and_rollback_need_admin(secured, store):
    for key in ("reader:r3ad", "trainer:tr4in"):
        for method, path, body in (
                ("put", "/models/iris/aliases/prod", {"version": 2}),
                ("put", "/models/iris/aliases/prod", {"versions": {"1": 90, "2": 10}}),
                ("post", "/models/iris/aliases/prod/rollback", None),
                ("delete", "/models/iris/aliases/prod", None)):
            resp = getattr(secured, method)(path, json=body, headers=_auth(key))
            assert resp.status_code == 403, (key, method, path)
    assert secured.post("/models/iris/aliases/prod/rollback").status_code == 401
    assert store.aliases("iris")["prod"] == 1
    assert secured.get("/models/iris/aliases/prod/history",
                       headers=_auth("trainer:tr4in")).status_code == 403  # predict scope


def test_existing_alias_files_keep_working(tmp_path):
    store = publish_models(tmp_path / "s")
    path = store.root / "models/iris/aliases.json"
    path.write_text(json.dumps({"prod": 2, "old": 1}))
    assert store.resolve("iris", "prod") == 2
    assert store.summary("iris")["aliases"] == {"prod": 2, "old": 1}
    store.set_alias("iris", "canary", aliases.target_of({"versions": {"1": 30, "2": 70}}))
    assert json.loads(path.read_text()) == {"prod": 2, "old": 1,
                                            "canary": {"versions": {"1": 30, "2": 70}}}
    assert ModelStore(store.root).aliases("iris")["canary"] == {"versions": {"1": 30, "2": 70}}
