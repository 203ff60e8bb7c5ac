"""Bodies built to break the reader: deep nesting, other media types, compressed bodies. Each gets
a 4xx in its route's error shape, never a 500."""

from __future__ import annotations

import gzip
import zlib

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


def _compress(data: bytes, coding: str) -> bytes:
    return gzip.compress(data) if coding in ("gzip", "x-gzip") else zlib.compress(data)


@pytest.mark.parametrize("mimetype", ["text/plain", "application/x-www-form-urlencoded",
                                      "multipart/form-data; boundary=x", "text/csv",
                                      "application/octet-stream"])
def test_our_api_refuses_other_media_types_with_415(client, store, mimetype):
    resp = client.post("/predict", data=orjson.dumps(PREDICT), content_type=mimetype)
    if mimetype == "text/csv":  # /predict reads CSV too (issue 14): the model is in the query
        assert resp.status_code == 422 and "model" in resp.get_json()["errors"]
    else:
        assert "Content-Type" in _error(resp, "/predict", 415)
    resp = client.put("/models/iris/aliases/prod", data=b'{"version": 2}', content_type=mimetype)
    assert "Content-Type" in _error(resp, "/predict", 415)
    assert client.get("/models/iris").get_json()["aliases"] == {"prod": 1}


def test_our_api_reads_json_types_no_type_and_a_bom(client, store):
    """JSON, ``+json``, a charset, and no Content-Type at all (a body with no type is taken for
    what the route reads); a leading BOM is ignored, as RFC 8259 allows."""
    body = orjson.dumps(PREDICT)
    for headers in ({"Content-Type": "application/json"},
                    {"Content-Type": "application/json; charset=utf-8"},
                    {"Content-Type": "application/vnd.nnserve+json"}, {}):
        resp = client.post("/predict", data=body, headers=headers)
        assert resp.status_code == 200, (headers, resp.get_data(as_text=True))
        assert resp.headers.get("Content-Type") == "application/json"
    resp = client.post("/predict", data=b"\xef\xbb\xbf" + body, content_type="application/json")
    assert resp.status_code == 200 and len(resp.get_json()["labels"]) == len(ROWS)


@pytest.mark.parametrize("mimetype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_protocol_routes_read_json_whatever_the_type(client, store, mimetype):
    """TF Serving and KServe servers ignore Content-Type (curl -d sends a form type)."""
    headers = {"Content-Type": mimetype} if mimetype else {}
    assert client.post("/v1/models/iris:predict", data=orjson.dumps(TF),
                       headers=headers).status_code == 200
    assert client.post("/v2/models/iris/infer", data=orjson.dumps(V2),
                       headers=headers).status_code == 200


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "GZIP"])
@pytest.mark.parametrize("path, doc", ROUTES)
def test_compressed_bodies_are_read_on_every_route(client, store, path, doc, coding):
    resp = client.post(path, data=_compress(orjson.dumps(doc), coding.lower()),
                       content_type="application/json", headers={"Content-Encoding": coding})
    assert resp.status_code in (200, 202), resp.get_data(as_text=True)


def test_compressed_csv_trains(client):
    csv = b"a,b,label\n" + b"".join(b"%d,%d,%d\n" % (i % 2, i % 3, i % 2) for i in range(20))
    resp = client.post("/train?model=c", data=gzip.compress(csv), content_type="text/csv",
                       headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_json()["model"] == "c"


@pytest.mark.parametrize("path, doc", ROUTES)
def test_unknown_codings_are_415_and_broken_ones_400(client, store, path, doc):
    body = orjson.dumps(doc)
    for coding in ("br", "compress", "zstd", "gzip, gzip"):
        resp = client.post(path, data=body, content_type="application/json",
                           headers={"Content-Encoding": coding})
        message = _error(resp, path, 415)
        assert "Content-Encoding" in message and "malformed JSON" not in message
    # Declared gzip, sent plain: the coding is what is wrong, not the JSON.
    resp = client.post(path, data=body, content_type="application/json",
                       headers={"Content-Encoding": "gzip"})
    assert "not valid gzip" in _error(resp, path, 400)
    resp = client.post(path, data=gzip.compress(body)[:-12], content_type="application/json",
                       headers={"Content-Encoding": "gzip"})
    assert "truncated" in _error(resp, path, 400)


@pytest.mark.parametrize("path, doc", ROUTES)
def test_the_size_limit_holds_after_inflating(make_client, path, doc):
    small = make_client(max_body_mb=0.01)  # 10 485 bytes
    padded = orjson.dumps({**doc, "pad": " " * 200_000})
    resp = small.post(path, data=gzip.compress(padded), content_type="application/json",
                      headers={"Content-Encoding": "gzip"})
    assert len(gzip.compress(padded)) < 10_000
    assert "decompressed" in _error(resp, path, 413)
