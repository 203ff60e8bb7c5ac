"""The edge TF Serving and KServe share: one error shape, one URL rule, one cache lookup."""

from __future__ import annotations

import ast
import inspect

import pytest

from service import create_app
from service.api import kserve as kserve_api
from service.handlers import kserve as kserve_handlers
from service.model_cache import ModelCache
from service.runtime import get_runtime
from tests.protocol_models import FEATURES, ROWS, error_of, publish_models

FLAT = [v for row in ROWS for v in row]


@pytest.fixture
def counted(tmp_path):
    """(client, calls): an app whose model cache counts its ``get`` calls."""
    publish_models(tmp_path / "store")
    app = create_app({"store": tmp_path / "store"})
    app.config["TESTING"] = True
    calls: list[tuple] = []

    class CountingCache(ModelCache):
        def get(self, name, ref=None):
            calls.append((name, ref))
            return super().get(name, ref)

    with app.app_context():
        runtime = get_runtime()
        runtime.cache = CountingCache(runtime.store)
    return app.test_client(), calls


_ONE_ROW = {"name": "features", "shape": [1, 4], "datatype": "FP32", "data": FLAT[:4]}


@pytest.mark.parametrize("method, path, body", [
    ("post", "/predict", {"model": "iris", "instances": ROWS}),
    ("post", "/predict", {"model": "iris", "version": "prod", "instances": ROWS}),
    ("post", "/v1/models/iris:predict", {"instances": ROWS}),
    ("post", "/v1/models/iris/versions/2:predict", {"inputs": ROWS}),
    ("post", "/v1/models/iris/labels/prod:classify", {"examples": ROWS}),
    ("post", "/v1/models/iris:predict",
     {"instances": [dict(zip(FEATURES, row, strict=True)) for row in ROWS]}),
    ("post", "/v2/models/iris/infer", {"inputs": [_ONE_ROW]}),
    ("post", "/v2/models/iris/versions/prod/infer", {"inputs": [
        {"name": n, "shape": [1], "datatype": "FP64", "data": [v]}
        for n, v in zip(FEATURES, FLAT, strict=False)]}),
    ("get", "/v2/models/iris/ready", None),
])
def test_each_prediction_resolves_its_model_once(counted, method, path, body):
    client, calls = counted
    resp = getattr(client, method)(path, json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert len(calls) == 1, calls


@pytest.mark.parametrize("path, ref", [
    ("/v1/models/iris/versions/2:predict", 2),
    ("/v1/models/iris/labels/prod:predict", "prod"),
    ("/v1/models/iris/labels/latest:predict", "latest"),
    ("/v2/models/iris/versions/2/infer", 2),
    ("/v2/models/iris/versions/0002/infer", 2),
    ("/v2/models/iris/versions/prod/infer", "prod"),
])
def test_one_url_rule_for_both_protocols(counted, path, ref):
    client, calls = counted
    body = {"inputs": [_ONE_ROW]} if path.startswith("/v2") else {"instances": ROWS[:1]}
    assert client.post(path, json=body).status_code == 200
    assert calls == [("iris", ref)]


@pytest.mark.parametrize("body, fragment", [
    ({"inputs": [{**_ONE_ROW, "datatype": {}}]}, "inputs[0].datatype"),
    ({"inputs": [{**_ONE_ROW, "datatype": ["FP32"]}]}, "inputs[0].datatype"),
    ({"inputs": [{**_ONE_ROW, "datatype": 32}]}, "inputs[0].datatype"),
    ({"inputs": [_ONE_ROW], "outputs": [{"name": {}}]}, "outputs[0].name"),
    ({"inputs": [_ONE_ROW], "outputs": [{"name": ["label"]}]}, "outputs[0].name"),
    ({"inputs": [_ONE_ROW], "outputs": [{"name": 1}]}, "outputs[0].name"),
    ({"inputs": [_ONE_ROW], "outputs": ["label"]}, "outputs[0]"),
])
def test_wrong_typed_kserve_fields_are_400_in_v2_shape(counted, body, fragment):
    client, _ = counted
    resp = client.post("/v2/models/iris/infer", json=body)
    assert fragment in error_of(resp, 400)


def test_kserve_does_not_import_the_tf_serving_modules():
    for module in (kserve_api, kserve_handlers):
        tree = ast.parse(inspect.getsource(module))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for a in node.names}
        assert not any("tfserving" in name for name in imported), (module.__name__, imported)


def test_both_protocols_answer_errors_alike(counted):
    client, _ = counted
    for resp in (client.post("/v1/models/nope:predict", json={"instances": ROWS}),
                 client.post("/v2/models/nope/infer", json={"inputs": [_ONE_ROW]})):
        assert "model 'nope' not found" in error_of(resp, 404)
    for resp in (client.post("/v1/models/iris:predict", json={"instances": [[1, 2]]}),
                 client.post("/v2/models/iris/infer", json={"inputs": [
                     {**_ONE_ROW, "shape": [1, 2], "data": [1, 2]}]})):
        assert "expects 4 features" in error_of(resp, 400)  # a 422 in our own API


@pytest.mark.parametrize("path, body", [
    ("/v1/models/iris:predict", {"instances": [{"features": None}]}),
    ("/v1/models/iris-plain:predict", {"inputs": {"features": None}}),
    ("/v1/models/iris:classify", {"examples": [{"features": None}]}),
])
def test_a_null_features_input_is_400(counted, path, body):
    """It was read as "no rows given, use the feature names", then a 500."""
    client, _ = counted
    assert "must be a" in error_of(client.post(path, json=body), 400)
