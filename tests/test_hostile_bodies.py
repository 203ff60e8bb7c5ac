"""Bodies built to break the reader: deep nesting, other media types, compressed bodies. Each gets
a 4xx in its route's error shape, never a 500."""

from __future__ import annotations

import orjson
import pytest

from service.api.body import MAX_JSON_DEPTH, parse_json
from service.errors import BadRequest
from tests.protocol_models import ROWS, error_of

# One body per reader: our own API, TF Serving, KServe V2, training.
PREDICT = {"model": "iris", "instances": ROWS}
TF = {"instances": ROWS}
V2 = {"inputs": [{"name": "features", "shape": [3, 4], "datatype": "FP32", "data": ROWS}]}
TRAIN = {"model": "m", "data": {"features": [[0, 1], [1, 0], [1, 1], [0, 0]],
                                "labels": [0, 1, 1, 0]}}
ROUTES = [("/predict", PREDICT), ("/train", TRAIN), ("/v1/models/iris:predict", TF),
          ("/v2/models/iris/infer", V2)]


def _error(resp, path: str, status: int) -> str:
    """The message of an error answered in ``path``'s protocol shape."""
    if path.startswith(("/v1/", "/v2/")):
        return error_of(resp, status)
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()["detail"]


def _nest(depth: int, inner: str = "") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize("depth", [600, 1023, 1024, 5000])
@pytest.mark.parametrize("path", [path for path, _ in ROUTES])
def test_deep_nesting_is_400_on_every_route(client, store, path, depth):
    body = {"/predict": '{"model":"iris","instances":%s}',
            "/train": '{"model":"m","data":{"features":%s,"labels":[1]}}',
            "/v1/models/iris:predict": '{"instances":%s}',
            "/v2/models/iris/infer": '{"inputs":[{"name":"features","shape":[1,4],'
                                     '"datatype":"FP32","data":%s}]}'}[path] % _nest(depth)
    resp = client.post(path, data=body, content_type="application/json")
    assert "nested too deeply" in _error(resp, path, 400)
    assert f"more than {MAX_JSON_DEPTH} levels" in _error(resp, path, 400)


@pytest.mark.parametrize("path", [path for path, _ in ROUTES])
def test_nesting_up_to_the_limit_is_read_and_judged(client, store, path):
    """At the limit the body is parsed; the handler refuses the shape (4xx), nothing breaks."""
    doc = {"/predict": {"model": "iris"}, "/train": {"model": "m"},
           "/v1/models/iris:predict": {}, "/v2/models/iris/infer": {}}[path]
    key = {"/predict": "instances", "/train": "data", "/v1/models/iris:predict": "instances",
           "/v2/models/iris/infer": "inputs"}[path]
    # The object around the value is one level: MAX_JSON_DEPTH - 1 arrays inside it.
    body = orjson.dumps(doc)[:-1] + (b"," if doc else b"") + f'"{key}":'.encode() + \
        _nest(MAX_JSON_DEPTH - 1, "1").encode() + b"}"
    resp = client.post(path, data=body, content_type="application/json")
    assert 400 <= resp.status_code < 500, resp.get_data(as_text=True)
    assert "nested too deeply" not in resp.get_data(as_text=True)


def test_depth_counts_arrays_and_objects_outside_strings():
    at_limit = '{"a":' * (MAX_JSON_DEPTH - 1) + "[1]" + "}" * (MAX_JSON_DEPTH - 1)
    assert parse_json(at_limit.encode())
    with pytest.raises(BadRequest, match="nested too deeply"):
        parse_json(('{"a":' * MAX_JSON_DEPTH + "[1]" + "}" * MAX_JSON_DEPTH).encode())
    # Brackets inside strings are text, with and without escapes in the body.
    text = "[" * 5000 + "{" * 5000
    assert parse_json(orjson.dumps({"name": text, "rows": [[1]] * 100}))["name"] == text
    escaped = orjson.dumps({"name": text + '"\\', "rows": [[1]] * 100})
    assert parse_json(escaped)["name"] == text + '"\\'
    # Many arrays side by side are wide, not deep.
    assert len(parse_json(orjson.dumps([[[i]] for i in range(10_000)]))) == 10_000
    # A deep body that orjson would refuse as well: the depth is what the client learns.
    with pytest.raises(BadRequest, match="nested too deeply"):
        parse_json(("[" * 2000 + "NaN" + "]" * 2000).encode())
