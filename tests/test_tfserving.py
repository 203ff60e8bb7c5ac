"""TF Serving REST API (/v1/models): golden shapes from its public spec, every error path."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.protocol_models import FEATURES, ROWS, SPECIES, error_of

OK = {"error_code": "OK", "error_message": ""}


def _post(client, path, body=None, **kw):
    if body is not None:
        kw["json"] = body
    return client.post(path, **kw)


def _probabilities(client, path, rows=ROWS) -> np.ndarray:
    resp = _post(client, path, {"instances": rows})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return np.array(resp.get_json()["predictions"])


# -- status and metadata ----------------------------------------------------------------------

def test_model_status_golden(client, store):
    # Spec: {"model_version_status": [{"version": "123", "state": "AVAILABLE",
    #         "status": {"error_code": "OK", "error_message": ""}}]}
    resp = client.get("/v1/models/iris")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert resp.get_json() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": OK},
        {"version": "2", "state": "AVAILABLE", "status": OK}]}
    one = {"model_version_status": [{"version": "2", "state": "AVAILABLE", "status": OK}]}
    assert client.get("/v1/models/iris/versions/2").get_json() == one
    prod = client.get("/v1/models/iris/labels/prod").get_json()
    assert prod["model_version_status"][0]["version"] == "1"


def test_model_metadata_golden(client, store):
    def info(name, width):
        return {"dtype": "DT_FLOAT", "name": f"{name}:0", "tensor_shape": {
            "dim": [{"size": "-1", "name": ""}, {"size": str(width), "name": ""}],
            "unknown_rank": False}}

    signature = {"inputs": {"features": info("features", 4)},
                 "outputs": {"probabilities": info("probabilities", 3)},
                 "method_name": "tensorflow/serving/predict"}
    for path, version in (("/v1/models/iris/metadata", "2"),
                          ("/v1/models/iris/versions/1/metadata", "1"),
                          ("/v1/models/iris/labels/prod/metadata", "1")):
        resp = client.get(path)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.get_json() == {
            "model_spec": {"name": "iris", "signature_name": "", "version": version},
            "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}}}


# -- predict ----------------------------------------------------------------------------------

def test_predict_row_format(client, store):
    # Spec: {"instances": [...]} → {"predictions": [...]}, one entry per instance, in order.
    resp = _post(client, "/v1/models/iris:predict", {"instances": ROWS})
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    body = resp.get_json()
    assert list(body) == ["predictions"]
    proba = np.array(body["predictions"])
    assert proba.shape == (3, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert list(proba.argmax(axis=1)) == [0, 1, 2]  # setosa, versicolor, virginica


def test_predict_columnar_format_and_named_inputs(client, store):
    expected = _probabilities(client, "/v1/models/iris:predict")
    columns = {name: [row[i] for row in ROWS] for i, name in enumerate(FEATURES)}
    for inputs in (ROWS, {"features": ROWS}, columns):
        resp = _post(client, "/v1/models/iris:predict", {"inputs": inputs})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert list(body) == ["outputs"]
        np.testing.assert_allclose(body["outputs"], expected, atol=1e-6)
    # Row format with named inputs: one object per instance.
    named = [dict(zip(FEATURES, row, strict=True)) for row in ROWS]
    for instances in (named, [{"features": row} for row in ROWS]):
        got = _probabilities(client, "/v1/models/iris:predict", instances)
        np.testing.assert_allclose(got, expected, atol=1e-6)
    # A body without Content-Type is parsed all the same; signature_name may be given.
    resp = client.post("/v1/models/iris:predict",
                       data=b'{"signature_name": "serving_default", "instances": [[1, 2, 3, 4]]}')
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_versions_labels_and_latest(client, store):
    latest = _probabilities(client, "/v1/models/iris:predict")
    v1 = _probabilities(client, "/v1/models/iris/versions/1:predict")
    v2 = _probabilities(client, "/v1/models/iris/versions/2:predict")
    prod = _probabilities(client, "/v1/models/iris/labels/prod:predict")
    np.testing.assert_array_equal(latest, v2)
    np.testing.assert_array_equal(prod, v1)
    assert not np.allclose(v1, v2)  # two different versions really are served
    # A name with '.', '-' and '_' routes like any other.
    store.publish("my.model-v_2", *store_artifact(store, "iris", 1))
    got = _probabilities(client, "/v1/models/my.model-v_2:predict")
    np.testing.assert_array_equal(got, v1)


def store_artifact(store, name, version):
    meta = store.meta(name, version)
    keep = {k: meta[k] for k in ("n_features", "classes", "feature_names", "params")}
    return store.read_artifact(name, version), keep


# -- classify ---------------------------------------------------------------------------------

def test_classify_golden(client, store):
    # Spec: {"result": [[[label, score], ...], ...]}: every class per example, label a string.
    expected = _probabilities(client, "/v1/models/iris:predict")
    named = [dict(zip(FEATURES, row, strict=True)) for row in ROWS]
    tf_example = [{k: [v] for k, v in ex.items()} for ex in named]  # one-value feature lists
    for examples in (ROWS, named, tf_example):
        resp = _post(client, "/v1/models/iris:classify", {"examples": examples})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
        assert list(body) == ["result"] and len(body["result"]) == len(ROWS)
        for pairs, row in zip(body["result"], expected, strict=True):
            assert [label for label, _ in pairs] == SPECIES
            assert all(isinstance(score, float) for _, score in pairs)
            np.testing.assert_allclose([score for _, score in pairs], row, atol=1e-6)
    # context: features shared by every example.
    context = {"sepal_length": 5.1, "sepal_width": 3.5}
    examples = [{"petal_length": 1.4, "petal_width": 0.2}]
    resp = _post(client, "/v1/models/iris/labels/prod:classify",
                 {"context": context, "examples": examples})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    v1 = _probabilities(client, "/v1/models/iris/versions/1:predict", ROWS[:1])
    np.testing.assert_allclose([s for _, s in resp.get_json()["result"][0]], v1[0], atol=1e-6)


def test_classify_integer_classes_are_strings(client, store):
    resp = _post(client, "/v1/models/iris-plain:classify",
                 {"examples": [{"features": ROWS[0]}, ROWS[1]]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert [[label for label, _ in pairs] for pairs in resp.get_json()["result"]] == [
        ["0", "1", "2"], ["0", "1", "2"]]


# -- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, body, status, fragment", [
    ("get", "/v1/models/nope", None, 404, "model 'nope' not found"),
    ("get", "/v1/models/iris/versions/9", None, 404, "version 9"),
    ("get", "/v1/models/iris/versions/0/metadata", None, 404, "version 0"),
    ("get", "/v1/models/iris/labels/staging", None, 404, "alias 'staging'"),
    ("get", "/v1/models/iris/versions/abc", None, 400, "must be a number"),
    ("get", "/v1/models/iris/versions/1e3/metadata", None, 400, "must be a number"),
    ("get", "/v1/models/iris/versions/" + "1" * 19, None, 404, "version 1111"),
    ("get", "/v1/models/iris/versions/" + "1" * 5000, None, 404, "version 1111"),  # not int()
    ("get", "/v1/models/a:b", None, 404, "not found"),
    ("get", "/v1/models/ba$d", None, 404, "not found"),
    ("post", "/v1/models/nope:predict", {"instances": ROWS}, 404, "model 'nope' not found"),
    ("post", "/v1/models/iris/versions/9:predict", {"instances": ROWS}, 404, "version 9"),
    ("post", "/v1/models/iris/labels/staging:predict", {"instances": ROWS}, 404, "staging"),
    ("post", "/v1/models/nope:classify", {"examples": ROWS}, 404, "not found"),
    ("post", "/v1/models/iris:predict", {"instances": ROWS, "inputs": ROWS}, 400, "not both"),
    ("post", "/v1/models/iris:predict", {"signature_name": "serving_default"}, 400,
     "missing input"),
    ("post", "/v1/models/iris:predict", {"instances": [[1, 2, 3]]}, 400, "expects 4 features"),
    ("post", "/v1/models/iris:predict", {"inputs": [[1, 2, 3, 4, 5]]}, 400, "got 5"),
    ("post", "/v1/models/iris:predict", {"instances": [[1, 2, 3, 4], [1, 2]]}, 400, "ragged"),
    ("post", "/v1/models/iris:predict", {"instances": [[1, "a", 3, 4]]}, 400, "number"),
    ("post", "/v1/models/iris:predict", {"instances": [[1.5, True, 3, 4]]}, 400,
     "instances[0][1]: must be a number, got true"),
    ("post", "/v1/models/iris:predict", {"instances": []}, 400, "non-empty"),
    ("post", "/v1/models/iris:predict", {"instances": ROWS, "signature_name": "x"}, 400,
     "signature"),
    ("post", "/v1/models/iris:predict", {"inputs": {"x": ROWS}}, 400, "unknown feature 'x'"),
    ("post", "/v1/models/iris-plain:predict", {"inputs": {"x": ROWS}}, 400, "unknown input"),
    ("post", "/v1/models/iris:predict", {"inputs": {"sepal_length": [1.0]}}, 400,
     "missing feature"),
    ("post", "/v1/models/iris:predict", {"inputs": 3}, 400, "inputs"),
    ("post", "/v1/models/iris:predict", {"inputs": {
        "sepal_length": [1.0, False], "sepal_width": [1, 2], "petal_length": [1, 2],
        "petal_width": [1, 2]}}, 400, "inputs.sepal_length: must be a list of numbers"),
    ("post", "/v1/models/iris:predict", {"instances": [{"sepal_length": 1}]}, 400, "missing"),
    ("post", "/v1/models/iris:classify", {"examples": []}, 400, "examples"),
    ("post", "/v1/models/iris:classify", {"examples": ROWS, "context": {"a": 1}}, 400,
     "context"),
    ("post", "/v1/models/iris:classify", {"examples": [5]}, 400, "examples[0]"),
    ("post", "/v1/models/iris:classify",
     {"examples": [{"sepal_length": 1}], "context": {"sepal_length": 2}}, 400, "also in context"),
    ("post", "/v1/models/iris:classify",
     {"examples": [{"sepal_length": "a", "sepal_width": 1, "petal_length": 1,
                    "petal_width": 1}]}, 400, "examples[0].sepal_length"),
    ("post", "/v1/models/iris-plain:classify", {"examples": [{"a": 1}]}, 400, "unknown input"),
    ("get", "/v1/models/iris/nothing", None, 404, "not found"),
])
def test_errors(client, store, method, path, body, status, fragment):
    resp = getattr(client, method)(path, json=body) if body is not None else getattr(
        client, method)(path)
    assert fragment in error_of(resp, status)


@pytest.mark.parametrize("raw", [b"{", b"", b"[1, 2]", b'{"instances": [[NaN, 1, 2, 3]]}'])
def test_malformed_bodies(client, store, raw):
    error_of(client.post("/v1/models/iris:predict", data=raw,
                         content_type="application/json"), 400)


def test_limits(make_client, store):
    client = make_client(max_rows=2, max_body_mb=0.001)
    assert "limit" in error_of(_post(client, "/v1/models/iris:predict", {"instances": ROWS}), 400)
    big = {"instances": [[1.0, 2.0, 3.0, 4.0]] * 200}
    assert "limit" in error_of(_post(client, "/v1/models/iris:predict", big), 413)


def test_wrong_method(client, store):
    resp = client.post("/v1/models/iris")
    error_of(resp, 405)
    assert "GET" in resp.headers["Allow"]


# -- routing and the documented path parameters -----------------------------------------------

_ACTION_URLS = [f"/v1/models/iris{base}:{verb}" for base in ("", "/versions/1", "/labels/prod")
                for verb in ("predict", "classify")]


@pytest.mark.parametrize("path", _ACTION_URLS)
def test_action_urls_are_post_only(client, store, path):
    # F2: /v1/models/iris:predict once also matched GET /v1/models/<name> (name "iris:predict"),
    # so OPTIONS advertised GET. A name, version or label never holds ':' (TF Serving: [^/:]+).
    allow = client.options(path).headers["Allow"]
    assert set(allow.split(", ")) == {"POST", "OPTIONS"}, allow
    for method in ("get", "put", "delete"):
        resp = getattr(client, method)(path)
        error_of(resp, 405)  # {"error": ...} as everywhere under /v1
        assert set(resp.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_path_parameters_are_documented_as_served(client, store):
    # F1: {version} was documented as any string, yet a non-number is a 400.
    paths = client.get("/openapi.json").get_json()["paths"]
    tf_paths = {p: v for p, v in paths.items() if p.startswith("/v1/")}
    assert len(tf_paths) == 12
    for path, item in tf_paths.items():
        params = {p["name"]: p for p in item["parameters"]}
        assert set(params) == {n.strip("{}") for n in re.findall(r"\{\w+\}", path)}, path
        for name, param in params.items():
            assert param["schema"]["type"] == "string" and "pattern" in param["schema"], path
            # The example is served (the fuzz test's store has these) and is a conformant value.
            assert re.match(param["schema"]["pattern"], param["example"]), (path, name)
    version = tf_paths["/v1/models/{name}/versions/{version}"]["parameters"][1]["schema"]
    assert version == paths["/models/{name}/versions/{version}"]["parameters"][1]["schema"]
    pattern = re.compile(version["pattern"])
    for value in ("1", "2", "002", "9" * 18):
        assert pattern.match(value)
        status = client.get(f"/v1/models/iris/versions/{value}").status_code
        assert status in (200, 404), value  # found or not: never the 400 for non-numbers
    for value in ("abc", "0", "-1", "1.0", "9" * 19, "1:predict"):
        assert not pattern.match(value), value
    label = re.compile(tf_paths["/v1/models/{name}/labels/{label}"]["parameters"][1]["schema"][
        "pattern"])
    assert label.match("prod") and label.match("latest") and label.match("v1.2-rc_3")
    assert not any(label.match(v) for v in ("12", "a:b", "-x", "x" * 65))
    latest = client.get("/v1/models/iris/labels/latest")
    assert latest.get_json()["model_version_status"][0]["version"] == "2"
