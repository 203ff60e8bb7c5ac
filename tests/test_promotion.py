"""Evaluation-gated promotion: POST /train with promote (decided in the job on its held-out test
rows), PUT of an alias with require (409 for a loser), atomic against racing moves, scopes."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from models import MLPClassifier
from service import create_app
from service.config import Settings
from service.errors import Conflict, Unprocessable
from service.handlers.promotion import PromotionRefused, gated_move
from service.jobs import JobService
from service.jobs.promotion import publish_promoted
from service.jobs.task import run_job
from service.routing import Split
from service.store import ModelStore
from tests.factories import publish_trained

GOOD = {"hidden_layers": [16], "epochs": 60, "learning_rate": 0.02, "batch_size": 16}
POOR = {"hidden_layers": [16], "epochs": 1, "learning_rate": 1e-4, "batch_size": 16}


def data(rows: int = 240, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % 3
    return rng.normal(size=(rows, features)) + y[:, None] * 1.2, y


@pytest.fixture
def svc(tmp_path, backend):
    queue, namespace = backend
    settings = Settings.from_env({"store": tmp_path, "queue": queue, "heartbeat_interval": 0.2},
                                 environ={})
    return JobService(settings, ModelStore(settings.store), namespace=namespace)


def train(svc: JobService, params: dict, promote: dict | None = None, key_id=None,
          X=None, y=None) -> dict:
    if X is None:
        X, y = data()
    job, _ = svc.submit("m", X, y, params, promote=promote, key_id=key_id)
    run_job(svc.settings, job["job_id"], namespace=svc.namespace)
    job = svc.get(job["job_id"])
    assert job["status"] == "succeeded", job["error"]
    return job


PROMOTE = {"alias": "production", "metric": "accuracy", "min_delta": 0.0}


def test_promotion_creates_then_moves_only_for_a_better_candidate(svc):
    first = train(svc, POOR, PROMOTE, key_id="ci")
    assert first["promotion"]["moved"] and "created" in first["promotion"]["reason"]
    assert svc.store.aliases("m")["production"] == first["model_version"]

    better = train(svc, GOOD, PROMOTE, key_id="ci")
    record = better["promotion"]
    assert record["moved"] and record["current_version"] == first["model_version"]
    assert record["candidate"] > record["current"] and record["improvement"] > 0
    assert record["interval"][0] <= record["improvement"] <= record["interval"][1]
    assert record["rows"] == 48 and "held-out" in record["data"]  # 20% of 240
    assert svc.store.meta("m", better["model_version"])["promotion"] == record
    shown = create_app({"store": svc.settings.store}).test_client().get(
        f"/models/m/versions/{better['model_version']}").get_json()
    assert shown["promotion"] == record
    card = create_app({"store": svc.settings.store}).test_client().get(
        f"/models/m/versions/{better['model_version']}/card").get_data(as_text=True)
    assert "Lineage: trained from scratch" in card
    assert f"Promotion to `production` against version {first['model_version']} (accuracy" \
        in card and card.count(": moved") == 1
    assert svc.store.aliases("m")["production"] == better["model_version"]
    entry = svc.store.alias_history("m", "production")[-1]
    assert entry["reason"] == "promotion" and entry["key_id"] == "ci"
    assert entry["promotion"]["candidate"] == record["candidate"]

    worse = train(svc, POOR, PROMOTE)
    record = worse["promotion"]
    assert not record["moved"] and record["candidate"] < record["current"]
    assert "less than min_delta" in record["reason"]
    assert svc.store.meta("m", worse["model_version"])["promotion"]["moved"] is False
    assert svc.store.aliases("m")["production"] == better["model_version"]


def test_log_loss_is_lower_is_better(svc):
    train(svc, POOR, PROMOTE)
    job = train(svc, GOOD, {**PROMOTE, "metric": "log_loss"})
    record = job["promotion"]
    assert record["candidate"] < record["current"] and record["higher_is_better"] is False
    assert record["improvement"] == pytest.approx(record["current"] - record["candidate"])
    assert record["moved"]


def test_confident_needs_the_intervals_lower_bound_to_clear_min_delta(tmp_path, svc, versions):
    poor, good = versions
    client = create_app({"store": tmp_path}).test_client()
    probe = client.put("/models/m/aliases/probe", json={"version": poor})
    assert probe.status_code == 200
    record = client.put("/models/m/aliases/probe", json={
        "version": good, "require": _require()}).get_json()["promotion"]
    low, point = record["interval"][0], record["improvement"]
    assert low < point
    between = (low + point) / 2
    client.put("/models/m/aliases/probe", json={"version": poor})
    resp = client.put("/models/m/aliases/probe", json={
        "version": good, "require": {**_require(min_delta=between), "confident": True}})
    assert resp.status_code == 409 and "lower bound" in resp.get_json()["detail"]
    resp = client.put("/models/m/aliases/probe", json={
        "version": good, "require": _require(min_delta=between)})
    assert resp.status_code == 200


def test_different_input_features_move_nothing_and_say_why(svc):
    first = train(svc, GOOD, PROMOTE)
    X, y = data(features=5)
    other = train(svc, GOOD, PROMOTE, X=X, y=y)
    assert not other["promotion"]["moved"]
    assert "other input features" in other["promotion"]["reason"]
    assert svc.store.aliases("m")["production"] == first["model_version"]


def test_promote_needs_held_out_rows_and_a_valid_alias(svc):
    X, y = data()
    with pytest.raises(Unprocessable) as err:
        svc.submit("m", X, y, {**POOR, "test_split": 0.0}, promote=PROMOTE)
    assert "test_split" in err.value.errors["promote"][0]
    with pytest.raises(Unprocessable) as err:
        svc.submit("m", X, y, POOR, promote={**PROMOTE, "alias": "latest"})
    assert "promote.alias" in err.value.errors


def test_a_canary_in_progress_is_not_promoted_over(svc):
    one = train(svc, POOR)["model_version"]
    two = train(svc, POOR)["model_version"]
    svc.store.set_alias("m", "production", Split({one: 50, two: 50}))
    job = train(svc, GOOD, PROMOTE)
    assert not job["promotion"]["moved"] and "canary" in job["promotion"]["reason"]


# -- PUT with require ---------------------------------------------------------------------------
def _require(metric="accuracy", min_delta=0.0, seed=9):
    X, y = data(seed=seed)
    return {"metric": metric, "min_delta": min_delta, "confident": False,
            "data": {"features": X.tolist(), "labels": y.tolist()}}


@pytest.fixture
def versions(svc):
    poor = train(svc, POOR)["model_version"]
    good = train(svc, GOOD)["model_version"]
    svc.store.set_alias("m", "production", poor)
    return poor, good


def test_put_require_moves_a_winner_and_409s_a_loser_with_both_scores(tmp_path, svc, versions):
    poor, good = versions
    client = create_app({"store": tmp_path}).test_client()
    resp = client.put("/models/m/aliases/production", json={"version": good,
                                                            "require": _require()})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["promotion"]["moved"] and resp.get_json()["version"] == good
    resp = client.put("/models/m/aliases/production", json={"version": poor,
                                                            "require": _require("log_loss")})
    assert resp.status_code == 409
    problem = resp.get_json()
    assert problem["candidate_score"] > problem["current_score"]  # log loss: lower is better
    assert problem["comparison"]["current_version"] == good and "min_delta" in problem["detail"]
    assert svc.store.aliases("m")["production"] == good
    bad = client.put("/models/m/aliases/production",
                     json={"version": poor, "require": {"data": {"features": [[1, 2]],
                                                                 "labels": [0]}}})
    assert bad.status_code == 422
    weights = client.put("/models/m/aliases/production", json={
        "versions": {str(poor): 50, str(good): 50}, "require": _require()})
    assert weights.status_code == 422 and "require" in weights.get_json()["errors"]


def _race(svc: JobService, versions: tuple[int, ...]) -> dict[int, str]:
    """Gated moves of ``versions`` to production, started at once from threads."""
    outcomes: dict[int, str] = {}
    barrier = threading.Barrier(len(versions))

    def move(version: int) -> None:
        barrier.wait()
        try:
            gated_move(svc.store, svc.settings, "m", "production", version, _require(), None)
            outcomes[version] = "moved"
        except PromotionRefused:
            outcomes[version] = "refused"
        except Conflict:
            outcomes[version] = "409"

    threads = [threading.Thread(target=move, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_racing_gated_moves_end_with_the_better_one_or_a_409(svc, versions):
    poor, good = versions
    middle = train(svc, {**GOOD, "epochs": 3})["model_version"]
    for _ in range(4):
        svc.store.set_alias("m", "production", poor)
        outcomes = _race(svc, (middle, good))
        final = svc.store.aliases("m")["production"]
        assert final == good or "409" in outcomes.values(), outcomes
        history = svc.store.alias_history("m", "production")
        for before, after in zip(history, history[1:], strict=False):
            assert after["old"] == before["new"]  # no move was lost or overwritten blindly
        assert history[-1]["new"] == final


def test_racing_promoting_jobs_never_lose_a_move(tmp_path, svc):
    X, y = data()
    v1, _ = publish_trained(svc.store, "m", X, y, **POOR)
    svc.store.set_alias("m", "production", v1)
    candidates = [MLPClassifier(**params).fit(X, y) for params in (GOOD, {**GOOD, "epochs": 5})]
    Xt, yt = data(seed=5)
    results = {}

    def run(n: int) -> None:
        clf = candidates[n]
        buf = io.BytesIO()
        clf.save(buf)
        meta = {"params": clf.get_params(), "n_features": 4, "classes": clf.classes_.tolist()}

        def publish(meta: dict, fields: dict) -> int:
            return svc.store.publish("m", buf.getvalue(), meta)

        results[n] = publish_promoted(svc.store, "m", {**PROMOTE, "confident": False}, None,
                                      (clf, meta), Xt, yt, None, 0, publish)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = svc.store.alias_history("m", "production")
    for before, after in zip(history, history[1:], strict=False):
        assert after["old"] == before["new"]
    moved = [r for _, r in results.values() if r["moved"]]
    # each decision was made against the version the alias held when it moved
    for (version, record) in results.values():
        if record["moved"]:
            entry = next(e for e in history if e["new"] == version)
            assert entry["old"] == record["current_version"]
    assert moved
    final = svc.store.aliases("m")["production"]
    scores = {v: r["candidate"] for v, r in results.values()}
    assert scores[final] == max(scores.values()) or len(moved) == 1


# -- scopes -------------------------------------------------------------------------------------
KEYS = "trainer:t:train,both:b:train+admin,boss:a:admin,reader:r:predict"


def test_promote_on_train_needs_train_and_admin(tmp_path):
    client = create_app({"store": tmp_path, "api_keys": KEYS}).test_client()
    X, y = data()
    body = {"model": "m", "params": POOR, "promote": PROMOTE,
            "data": {"features": X.tolist(), "labels": y.tolist()}}
    for key, status in (("trainer:t", 403), ("reader:r", 403), ("both:b", 202),
                        ("boss:a", 202)):
        resp = client.post("/train", json=body, headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == status, (key, resp.get_json())
    plain = {k: v for k, v in body.items() if k != "promote"}
    assert client.post("/train", json=plain,
                       headers={"Authorization": "Bearer trainer:t"}).status_code == 202
    job = client.post("/train", json=body, headers={"Authorization": "Bearer both:b"})
    assert job.get_json()["promote"]["alias"] == "production"


def test_a_gated_put_needs_admin(tmp_path, svc, versions):
    client = create_app({"store": tmp_path, "api_keys": KEYS}).test_client()
    for key in ("trainer:t", "reader:r"):
        resp = client.put("/models/m/aliases/production", json={
            "version": versions[1], "require": _require()},
            headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 403
