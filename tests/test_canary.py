"""Canary traffic: weighted aliases, routing by X-Routing-Key or at random, the serving version
in every protocol's answer and in metrics, across processes and over real HTTP."""

from __future__ import annotations

import collections
import re

import pytest
import requests

from service import create_app
from service.cli_output import aliases_of, fmt_aliases
from service.routing import BUCKETS, Split, bucket_of
from tests.protocol_models import ROWS
from tests.server import start_server

PREDICT = {"model": "iris", "version": "prod", "instances": ROWS[:1]}


def _split(client, weights: dict[str, int]) -> None:
    resp = client.put("/models/iris/aliases/prod", json={"versions": weights})
    assert resp.status_code == 200, resp.get_json()


def test_10000_requests_land_within_2_points_of_the_weights(client, store):
    _split(client, {"1": 90, "2": 10})
    counts = collections.Counter()
    for _ in range(10_000):
        resp = client.post("/predict", json=PREDICT)
        counts[resp.get_json()["version"]] += 1
        assert resp.headers["X-Model-Version"] == str(resp.get_json()["version"])
    share = counts[2] / 10_000 * 100
    assert 8 <= share <= 12, counts


def test_the_same_key_gets_the_same_version_on_every_protocol(client, store):
    _split(client, {"1": 70, "2": 30})
    seen: dict[str, set[int]] = collections.defaultdict(set)
    for n in range(300):
        key = {"X-Routing-Key": f"user-{n}"}
        ours = client.post("/predict", json=PREDICT, headers=key)
        seen[key["X-Routing-Key"]].add(ours.get_json()["version"])
        tf = client.post("/v1/models/iris/labels/prod:predict",
                         json={"instances": ROWS[:1]}, headers=key)
        seen[key["X-Routing-Key"]].add(int(tf.headers["X-Model-Version"]))
        v2 = client.post("/v2/models/iris/versions/prod/infer", headers=key, json={
            "inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                        "data": ROWS[0]}]})
        assert v2.status_code == 200, v2.get_json()
        seen[key["X-Routing-Key"]].add(int(v2.get_json()["model_version"]))
        assert v2.headers["X-Model-Version"] == v2.get_json()["model_version"]
    assert all(len(v) == 1 for v in seen.values())
    on_two = sum(v == {2} for v in seen.values())
    assert 60 <= on_two <= 120  # 30% of 300 keys, by hash
    assert on_two == sum(bucket_of(k) >= 70 for k in seen)


def test_raising_the_canary_keeps_its_keys_and_100_finishes_the_rollout(client, store):
    keys = [f"session-{n}" for n in range(500)]
    _split(client, {"1": 90, "2": 10})
    before = {k for k in keys if client.post("/predict", json=PREDICT, headers={
        "X-Routing-Key": k}).get_json()["version"] == 2}
    _split(client, {"1": 50, "2": 50})
    after = {k for k in keys if client.post("/predict", json=PREDICT, headers={
        "X-Routing-Key": k}).get_json()["version"] == 2}
    assert before < after
    _split(client, {"2": 100})
    assert client.get("/models/iris").get_json()["aliases"]["prod"] == 2  # plain again
    assert {client.post("/predict", json=PREDICT).get_json()["version"]
            for _ in range(50)} == {2}


def test_weighted_alias_per_version_metrics(client, store):
    _split(client, {"1": 50, "2": 50})
    for _ in range(60):
        client.post("/predict", json=PREDICT)
    text = client.get("/metrics").get_data(as_text=True)
    for version in ("1", "2"):
        assert re.search(rf'nnserve_predictions_total\{{model="iris",version="{version}"\}} '
                         r"[1-9]", text), version
        assert re.search(rf'nnserve_prediction_duration_seconds_count\{{model="iris",'
                         rf'version="{version}"\}} [1-9]', text), version


@pytest.mark.parametrize("body, field", [
    ({"versions": {"1": 90, "2": 20}}, "versions"),
    ({"versions": {"1": -10, "2": 110}}, "versions.1.value"),
    ({"versions": {"one": 50, "2": 50}}, "versions.one.key"),
    ({"versions": {"1": 50.5, "2": 49.5}}, "versions.1.value"),
    ({"version": 1, "versions": {"1": 100}}, "version"),
    ({}, "version"),
])
def test_bad_weights_are_422_naming_the_field(client, store, body, field):
    resp = client.put("/models/iris/aliases/prod", json=body)
    assert resp.status_code == 422, resp.get_json()
    assert field in resp.get_json()["errors"], resp.get_json()
    assert store.aliases("iris")["prod"] == 1


def test_weights_naming_a_missing_version_are_404(client, store):
    resp = client.put("/models/iris/aliases/prod", json={"versions": {"1": 50, "9": 50}})
    assert resp.status_code == 404 and "version 9" in resp.get_json()["detail"]


def test_a_split_set_through_one_process_routes_in_another(tmp_path, store):
    one, two = (create_app({"store": tmp_path / "store"}).test_client() for _ in range(2))
    assert {two.post("/predict", json=PREDICT).get_json()["version"] for _ in range(20)} == {1}
    _split(one, {"1": 50, "2": 50})
    assert {two.post("/predict", json=PREDICT).get_json()["version"]
            for _ in range(100)} == {1, 2}
    _split(one, {"2": 100})
    assert {two.post("/predict", json=PREDICT).get_json()["version"] for _ in range(20)} == {2}


def test_split_routes_by_bucket_in_ascending_version_order():
    split = Split({7: 10, 6: 90})
    assert split.versions == (6, 7)
    key = next(f"k{n}" for n in range(1000) if bucket_of(f"k{n}") >= 90)
    assert split.pick(key) == 7 and Split({6: 80, 7: 20}).pick(key) == 7
    assert BUCKETS == 100
    with pytest.raises(ValueError):
        Split({6: 100})


def test_real_http_canary_across_gunicorn_workers(tmp_path, store):
    server = start_server(tmp_path / "store", "--no-worker", log_dir=tmp_path)
    try:
        with requests.Session() as http:
            url = server.url
            assert http.put(f"{url}/models/iris/aliases/prod",
                            json={"versions": {"1": 75, "2": 25}}, timeout=10).ok
            counts = collections.Counter(
                http.post(f"{url}/predict", json=PREDICT, timeout=10).json()["version"]
                for _ in range(800))
            assert 17 <= counts[2] / 8 <= 33, counts  # 25% ± 8 points at n = 800
            keyed = {http.post(f"{url}/v1/models/iris/labels/prod:predict",
                               json={"instances": ROWS[:1]}, timeout=10,
                               headers={"X-Routing-Key": "user-42"}).headers["X-Model-Version"]
                     for _ in range(40)}
            assert len(keyed) == 1
    finally:
        server.stop()


def test_the_command_line_shows_a_split_alias():
    aliases = {"prod": {"versions": {"1": 90, "2": 10}}, "staging": 2}
    assert fmt_aliases(aliases) == "prod→1:90/2:10, staging→2"
    assert fmt_aliases(aliases, 2) == "prod 10%, staging"
    assert aliases_of(aliases, 1) == ["prod 90%"] and aliases_of(aliases, 3) == []
