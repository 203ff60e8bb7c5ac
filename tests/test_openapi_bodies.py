"""The OpenAPI spec says what the server enforces: bodies it calls invalid are refused, and
bodies it calls valid are served. The cases are the ones schemathesis found the spec too loose
for (issue 18): each is checked against the served spec and against the server.
"""

from __future__ import annotations

import jsonschema_rs
import pytest

from service import create_app
from tests.protocol_models import FEATURES, ROWS, publish_models

_TENSOR = {"name": "features", "shape": [1, 4], "datatype": "FP32", "data": ROWS[0]}
_TRAIN = {"model": "m", "data": {"features": [[0, 1], [1, 0], [1, 1], [0, 0]],
                                 "labels": [0, 1, 1, 0]}}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("bodies") / "store"
    publish_models(root)
    app = create_app({"store": root})
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture(scope="module")
def spec(client) -> dict:
    return client.get("/openapi.json").get_json()


def _draft4(node, spec: dict):
    """An OpenAPI 3.0 schema as JSON Schema draft 4: ``$ref`` resolved, ``nullable`` as a type."""
    if isinstance(node, list):
        return [_draft4(item, spec) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _draft4(spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]], spec)
    out = {k: _draft4(v, spec) for k, v in node.items()
           if k not in ("nullable", "example", "description")}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _spec_accepts(spec: dict, path: str, body) -> bool:
    schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema_rs.Draft4Validator(_draft4(schema, spec)).is_valid(body)


_CASES = [  # (documented path, request path, body, valid per spec, status)
    ("/v1/models/{name}:classify", "/v1/models/iris:classify", {"examples": []}, False, 400),
    ("/v1/models/{name}:classify", "/v1/models/iris:classify", {}, False, 400),
    ("/v1/models/{name}:predict", "/v1/models/iris:predict", {}, False, 400),
    ("/v1/models/{name}:predict", "/v1/models/iris:predict",
     {"instances": ROWS, "inputs": None}, False, 400),
    ("/v1/models/{name}:predict", "/v1/models/iris:predict", {"instances": []}, False, 400),
    ("/v2/models/{name}/infer", "/v2/models/iris/infer", {"inputs": []}, False, 400),
    ("/v2/models/{name}/infer", "/v2/models/iris/infer",
     {"inputs": [{**_TENSOR, "shape": [-1, 4]}]}, False, 400),
    ("/v2/models/{name}/infer", "/v2/models/iris/infer",
     {"inputs": [{**_TENSOR, "shape": [0, 4], "data": []}]}, False, 400),
    ("/v2/models/{name}/infer", "/v2/models/iris/infer",
     {"inputs": [{**_TENSOR, "datatype": "BYTES"}]}, False, 400),
    ("/train", "/train", {**_TRAIN, "data": {**_TRAIN["data"], "feature_names": []}}, False, 422),
    ("/train", "/train", {**_TRAIN, "data": {**_TRAIN["data"], "labels": [0, 1, "a", 0]}},
     False, 422),
    ("/train", "/train", {**_TRAIN, "params": {"learning_rate": 5e-324}}, True, 202),
    ("/train", "/train", {**_TRAIN, "params": {"epochs": 100_000}}, True, 202),
    ("/train", "/train", {**_TRAIN, "params": {"validation_split": 0.5}}, True, 202),
    ("/v1/models/{name}:predict", "/v1/models/iris:predict", {"instances": ROWS}, True, 200),
    ("/v1/models/{name}:predict", "/v1/models/iris:predict", {"inputs": ROWS}, True, 200),
    ("/v1/models/{name}:predict", "/v1/models/iris:predict",
     {"instances": [dict(zip(FEATURES, row, strict=True)) for row in ROWS],
      "signature_name": None}, True, 200),
    ("/v1/models/{name}:classify", "/v1/models/iris:classify",
     {"examples": [{"sepal_length": 5.1}], "context": dict(zip(FEATURES[1:], ROWS[0][1:],
                                                              strict=True))}, True, 200),
    ("/v2/models/{name}/infer", "/v2/models/iris/infer", {"inputs": [_TENSOR]}, True, 200),
    ("/predict", "/predict", {"model": "iris", "version": "prod", "instances": ROWS}, True, 200),
]


@pytest.mark.parametrize("documented, path, body, valid, status", _CASES)
def test_the_spec_and_the_server_agree(client, spec, documented, path, body, valid, status):
    assert _spec_accepts(spec, documented, body) is valid
    resp = client.post(path, json=body)
    assert resp.status_code == status, resp.get_data(as_text=True)
