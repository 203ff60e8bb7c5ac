"""Our REST API's answers to bad input: RFC 9457 problems with status and field paths, never 500."""

from __future__ import annotations

import json

import pytest

PROBLEM = "application/problem+json"


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json(force=True)
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"].startswith("https://")
    return body


def _train(client, payload, **kw):
    data = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    kw.setdefault("content_type", "application/json")
    return client.post("/train", data=data, **kw)


GOOD = {"model": "m", "data": {"features": [[0, 1], [1, 0], [1, 1], [0, 0]],
                               "labels": [0, 1, 1, 0]}}


def test_health_and_spec(client):
    assert client.get("/healthz").get_json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["checks"]["store"]["ok"] is True
    spec = client.get("/openapi.json").get_json()
    for path in ("/train", "/predict", "/jobs/{job_id}", "/models/{name}/aliases/{alias}"):
        assert path in spec["paths"], path
    train_body = spec["paths"]["/train"]["post"]["requestBody"]["content"]
    assert "application/json" in train_body
    docs = client.get("/docs")
    assert docs.status_code == 200 and b"/docs/assets/swagger-ui-bundle.js" in docs.data
    with client.get("/docs/assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200 and asset.mimetype.endswith("javascript")


def test_unknown_route_and_method(client):
    _problem(client.get("/nope"), 404)
    body = _problem(client.put("/predict"), 405)
    assert "POST" in client.put("/predict").headers["Allow"]
    assert body["title"] == "Method Not Allowed"


@pytest.mark.parametrize("raw, fragment", [
    (b"{", "malformed JSON"),
    (b"", "empty"),
    (b'{"model": "m", "model": "n", "data": {}}', "duplicate key 'model'"),
    (b'{"model": "a:b", "data": {"x": ":", "x": 1}}', "duplicate key 'x'"),  # colons in strings
    (b'{"model": "a\\":", "data": {}, "data": 1}', "duplicate key 'data'"),  # an escaped quote
    (b"[" * 10000 + b"]" * 10000, "nested too deeply"),
    (b'{"model": ' + b"9" * 400 + b"}", "too large"),
    (b"[1, 2]", "JSON object"),
])
def test_malformed_json_is_400(client, raw, fragment):
    for path in ("/train", "/predict"):
        body = _problem(client.post(path, data=raw, content_type="application/json"), 400)
        assert fragment in body["detail"], body


@pytest.mark.parametrize("mutate, field", [
    (lambda p: p["data"].update(features=[[0, 1], [1]] + [[0, 0]] * 2), "data.features[1]"),
    (lambda p: p["data"].update(features=[[0, "x"], [1, 0], [1, 1], [0, 0]]),
     "data.features[0][1]"),
    (lambda p: p["data"].update(labels=[0, 1, 1]), "data.labels"),
    (lambda p: p["data"].update(labels=[0, 0, 0, 0]), "data.labels"),
    (lambda p: p["data"].update(labels=[0, "a", 1, 0]), "data.labels"),
    (lambda p: p.update(params={"epochs": 0}), "params.epochs"),
    (lambda p: p.update(params={"activation": "step"}), "params.activation"),
    (lambda p: p.update(params={"bogus": 1}), "params.bogus"),
    (lambda p: p.update(model="../etc"), "model"),
    (lambda p: p.pop("data"), "data"),
    (lambda p: p["data"].update(feature_names=["a"]), "data.feature_names"),
])
def test_invalid_train_payload_is_422_naming_the_field(client, mutate, field):
    payload = json.loads(json.dumps(GOOD))
    mutate(payload)
    body = _problem(_train(client, payload), 422)
    assert field in body["errors"], body


@pytest.mark.parametrize("payload, field, message", [
    ({"instances": [[1.0]]}, "model", "Missing data for required field."),
    ({"model": "m"}, "instances", "Missing data for required field."),
    ({"model": 3, "instances": [[1.0]]}, "model", "Not a valid string."),
    ({"model": "../etc", "instances": [[1.0]]}, "model", "must be 1-64 characters"),
    ({"model": "m", "instances": [[1.0]], "rows": 1}, "rows", "Unknown field."),
    ({"model": "m", "version": 0, "instances": [[1.0]]}, "version", "start at 1"),
    ({"model": "m", "instances": [[1.0, 2.0], [1.0]]}, "instances[1]", "ragged"),
])
def test_invalid_predict_payload_is_422_naming_the_field(client, payload, field, message):
    """/predict reads its body by hand: the same field paths and wording as the schemas give."""
    body = _problem(client.post("/predict", json=payload), 422)
    assert message in " ".join(body["errors"][field]), body
    assert field in body["detail"]


def test_nan_and_infinity_are_422_with_the_cell(client):
    raw = b'{"model": "m", "data": {"features": [[0, 1], [1, NaN], [1, 1], [0, 0]], ' \
          b'"labels": [0, 1, 1, 0]}}'
    body = _problem(_train(client, raw), 422)
    assert "data.features[1][1]" in body["errors"]
    raw = b'{"model": "m", "instances": [[Infinity, 1]]}'
    body = _problem(client.post("/predict", data=raw, content_type="application/json"), 422)
    assert "instances[0][0]" in body["errors"]


def test_booleans_among_numbers_are_422_naming_the_cell(client):
    """JSON true and false are not numbers, although Python would take them for 1 and 0."""
    mixed = {"model": "m", "data": {"features": [[0, 1], [1, True], [1, 1], [0, 0]],
                                    "labels": [0, 1, 1, 0]}}
    body = _problem(_train(client, mixed), 422)
    assert body["errors"] == {"data.features[1][1]": ["must be a number, got true"]}
    mixed["data"]["features"] = [[True, False], [1, 0], [1, 1], [0, 0]]  # a row of booleans
    assert "data.features[0][0]" in _problem(_train(client, mixed), 422)["errors"]
    # a body with an escape takes the other scan
    raw = b'{"model": "gh\\u006fst", "instances": [[0.5, false]]}'
    body = _problem(client.post("/predict", data=raw, content_type="application/json"), 422)
    assert body["errors"] == {"instances[0][1]": ["must be a number, got false"]}
    # where a boolean belongs it keeps its meaning, numbers beside it stay numbers
    assert _train(client, {**GOOD, "params": {"early_stopping": True}}).status_code == 202


def test_values_at_the_float32_limit(client):
    """Above float32's largest value in float64 but rounding to it is a number; 1e39 is not."""
    at_limit = b"3.402823466385289e+38"    # what the fuzzer sent: it once got a 500
    raw = b'{"model": "m", "data": {"features": [[0, 1], [1, ' + at_limit + \
          b'], [1, 1], [0, 0]], "labels": [0, 1, 1, 0]}}'
    assert _train(client, raw).status_code == 202
    body = _problem(_train(client, raw.replace(at_limit, b"-1e39")), 422)
    assert "overflows float32" in body["errors"]["data.features[1][1]"][0]
    rows = b'{"model": "ghost", "instances": [[' + at_limit + b", -" + at_limit + b"]]}"
    _problem(client.post("/predict", data=rows, content_type="application/json"), 404)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_rows_the_network_overflows_on_are_422(app, client):
    """A row at float32's limit is a number, but the model cannot answer it with probabilities."""
    from sklearn.datasets import load_iris

    from service.runtime import get_runtime
    from tests.factories import publish_trained

    with app.app_context():
        iris = load_iris()
        publish_trained(get_runtime().store, "iris", iris.data, iris.target)
    rows = b'{"model": "iris", "instances": [[1, 1, 1, 1], [3.4e38, 3.4e38, 1, 1]]}'
    body = _problem(client.post("/predict", data=rows, content_type="application/json"), 422)
    assert "not finite" in body["errors"]["instances[1]"][0], body


def test_body_limit_is_413(settings_overrides):
    from service import create_app

    client = create_app({**settings_overrides, "max_body_mb": 0.001}).test_client()
    _problem(_train(client, b"[" + b"0," * 2000 + b"0]"), 413)


def test_unsupported_content_type_is_415(client):
    _problem(client.post("/train", data=b"x", content_type="application/xml"), 415)


def test_csv_errors(client):
    csv = "a,b,label\n1,2,x\n3,oops,y\n"
    # a text cell makes the CSV tabular data (issue 14), no longer a 422
    assert client.post("/train?model=m", data=csv, content_type="text/csv").status_code == 202
    body = _problem(client.post("/train?model=m&label_column=nope", data=csv,
                                content_type="text/csv"), 422)
    assert "label_column" in body["errors"]
    body = _problem(client.post("/train?model=m", data="a,b\n1,2,3\n",
                                content_type="text/csv"), 422)
    assert list(body["errors"]) == ["csv line 2"]
    body = _problem(client.post("/train", data=csv, content_type="text/csv"), 422)
    assert "model" in body["errors"]


def test_unknown_things_are_404(client):
    _problem(client.post("/predict", json={"model": "ghost", "instances": [[1.0]]}), 404)
    _problem(client.get("/models/ghost"), 404)
    _problem(client.get("/models/ghost/versions/1"), 404)
    _problem(client.get("/jobs/0123456789abcdef"), 404)
    _problem(client.delete("/jobs/0123456789abcdef"), 404)


def test_invalid_query_and_path_values_are_422(client):
    body = _problem(client.get("/jobs?limit=0"), 422)
    assert "limit" in body["errors"]
    body = _problem(client.get("/jobs?status=bogus"), 422)
    assert "status" in body["errors"]
    body = _problem(client.get("/models/m/versions/0"), 422)
    assert "version" in body["errors"]
    body = _problem(client.put("/models/m/aliases/123", json={"version": 1}), 422)
    assert "alias" in body["errors"]
    body = _problem(client.post("/predict", json={"model": "m", "version": True,
                                                  "instances": [[1]]}), 422)
    assert "version" in body["errors"]
