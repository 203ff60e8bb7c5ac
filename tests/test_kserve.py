"""KServe V2 / Open Inference Protocol (/v2): golden shapes from the spec, the binary tensor data
extension built by hand from Triton's spec, every error path, agreement with the other APIs."""

from __future__ import annotations

import gzip
import json
import struct
import zlib

import numpy as np
import pytest

from tests.protocol_models import FEATURES, ROWS, SPECIES, error_of

HEADER = "Inference-Header-Content-Length"
FLAT = [v for row in ROWS for v in row]


def _infer(client, body, path="/v2/models/iris/infer"):
    resp = client.post(path, json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    return resp.get_json()


def _features(data=FLAT, shape=(3, 4), datatype="FP32", name="features"):
    return {"name": name, "shape": list(shape), "datatype": datatype, "data": data}


def _binary_request(json_part: dict, tensors: bytes) -> tuple[bytes, dict]:
    head = json.dumps(json_part).encode()
    return head + tensors, {HEADER: str(len(head))}


def _split_binary_response(resp) -> tuple[dict, bytes]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/octet-stream"
    length = int(resp.headers[HEADER])
    return json.loads(resp.data[:length]), resp.data[length:]


def _bytes_elements(raw: bytes, count: int) -> list[str]:
    out, at = [], 0
    for _ in range(count):
        (size,) = struct.unpack_from("<I", raw, at)
        out.append(raw[at + 4:at + 4 + size].decode())
        at += 4 + size
    assert at == len(raw)
    return out


# -- health and metadata ----------------------------------------------------------------------

def test_server_endpoints_golden(client, store):
    assert client.get("/v2").get_json() == {
        "name": "nnserve", "version": "0.1.0",
        "extensions": ["binary_tensor_data", "classification"]}
    assert client.get("/v2/health/live").get_json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.get_json() == {"ready": True}


def test_model_metadata_golden(client, store):
    expected = {
        "name": "iris", "versions": ["1", "2"], "platform": "nnserve_numpy_mlp",
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
                    {"name": "label", "datatype": "BYTES", "shape": [-1]}]}
    for path in ("/v2/models/iris", "/v2/models/iris/versions/1", "/v2/models/iris/versions/prod"):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.get_json() == expected, path


def test_model_ready(client, store):
    for path in ("/v2/models/iris/ready", "/v2/models/iris/versions/2/ready"):
        assert client.get(path).get_json() == {"name": "iris", "ready": True}
    error_of(client.get("/v2/models/nope/ready"), 404)
    error_of(client.get("/v2/models/iris/versions/7/ready"), 404)
    (store.models_dir / "iris-plain" / "1" / "model.npz").write_bytes(b"not an artifact")
    resp = client.get("/v2/models/iris-plain/ready")
    assert resp.status_code == 503 and resp.get_json() == {"name": "iris-plain", "ready": False}


# -- infer, JSON --------------------------------------------------------------------------------

def test_infer_golden(client, store):
    # The spec's example: id "42", a UINT32 input given flat, one output asked for by name.
    body = _infer(client, {"id": "42", "inputs": [_features(
        [5, 3, 1, 0, 6, 3, 4, 1], shape=(2, 4), datatype="UINT32")],
        "outputs": [{"name": "probabilities"}]})
    assert list(body) == ["model_name", "model_version", "id", "outputs"]
    assert body["model_name"] == "iris" and body["model_version"] == "2" and body["id"] == "42"
    [out] = body["outputs"]
    assert list(out) == ["name", "datatype", "shape", "data"]
    assert out["name"] == "probabilities" and out["datatype"] == "FP32" and out["shape"] == [2, 3]
    assert len(out["data"]) == 6 and all(isinstance(v, float) for v in out["data"])
    np.testing.assert_allclose(np.reshape(out["data"], (2, 3)).sum(axis=1), 1, atol=1e-5)


def test_infer_default_outputs_and_nested_data(client, store):
    flat = _infer(client, {"inputs": [_features()]})
    nested = _infer(client, {"inputs": [_features(ROWS)]})
    assert "id" not in flat and flat == nested
    proba, label = flat["outputs"]
    assert proba["name"] == "probabilities" and proba["shape"] == [3, 3]
    assert label == {"name": "label", "datatype": "BYTES", "shape": [3], "data": SPECIES}
    only = _infer(client, {"inputs": [_features()], "outputs": [{"name": "label"}]})
    assert only["outputs"] == [label]
    plain = _infer(client, {"inputs": [_features()]}, "/v2/models/iris-plain/infer")
    assert plain["outputs"][1]["data"] == ["0", "1", "2"]


@pytest.mark.parametrize("datatype", ["FP16", "FP32", "FP64", "INT8", "INT16", "INT32",
                                      "INT64", "UINT8", "UINT16", "UINT32", "UINT64"])
def test_numeric_datatypes(client, store, datatype):
    data = [5, 3, 1, 0, 6, 3, 4, 1]
    body = _infer(client, {"inputs": [_features(data, (2, 4), datatype)]})
    ref = _infer(client, {"inputs": [_features([float(v) for v in data], (2, 4))]})
    assert body == ref


def test_versions_aliases_and_per_feature_inputs(client, store):
    v1 = _infer(client, {"inputs": [_features()]}, "/v2/models/iris/versions/1/infer")
    prod = _infer(client, {"inputs": [_features()]}, "/v2/models/iris/versions/prod/infer")
    assert v1["model_version"] == prod["model_version"] == "1" and v1 == prod
    columns = [{"name": name, "shape": [3], "datatype": "FP64", "data": [r[i] for r in ROWS]}
               for i, name in reversed(list(enumerate(FEATURES)))]  # any order
    # FP64 rows reach the model unrounded, so the reference is an FP64 tensor too
    assert _infer(client, {"inputs": columns}) == _infer(client, {"inputs": [_features(
        datatype="FP64")]})


def test_classification_extension(client, store):
    body = _infer(client, {"inputs": [_features()], "outputs": [
        {"name": "probabilities", "parameters": {"classification": 2}}]})
    [out] = body["outputs"]
    assert out["datatype"] == "BYTES" and out["shape"] == [3, 2]
    proba = np.reshape(_infer(client, {"inputs": [_features()]})["outputs"][0]["data"], (3, 3))
    for r in range(3):
        top = [v.split(":") for v in out["data"][2 * r:2 * r + 2]]
        order = np.argsort(-proba[r], kind="stable")[:2]
        assert [int(i) for _, i, _ in top] == list(order)
        assert [lab for _, _, lab in top] == [SPECIES[i] for i in order]
        np.testing.assert_allclose([float(s) for s, _, _ in top], proba[r][order], atol=1e-6)


# -- binary tensor data extension ---------------------------------------------------------------

def test_binary_round_trip(client, store):
    # Triton's example: the input as binary data after the JSON header, outputs asked as binary.
    tensor = struct.pack("<12f", *FLAT)
    payload, headers = _binary_request({
        "inputs": [{"name": "features", "shape": [3, 4], "datatype": "FP32",
                    "parameters": {"binary_data_size": len(tensor)}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}},
                    {"name": "label", "parameters": {"binary_data": True}}]}, tensor)
    resp = client.post("/v2/models/iris/infer", data=payload, headers=headers,
                       content_type="application/octet-stream")
    head, tail = _split_binary_response(resp)
    proba, label = head["outputs"]
    assert proba == {"name": "probabilities", "datatype": "FP32", "shape": [3, 3],
                     "parameters": {"binary_data_size": 36}}
    assert label["shape"] == [3] and label["datatype"] == "BYTES" and "data" not in label
    values = struct.unpack("<9f", tail[:36])
    labels = _bytes_elements(tail[36:], 3)
    assert len(tail) == 36 + label["parameters"]["binary_data_size"]
    ref = _infer(client, {"inputs": [_features()]})
    np.testing.assert_array_equal(np.float32(values), np.float32(ref["outputs"][0]["data"]))
    assert labels == ref["outputs"][1]["data"] == SPECIES


def test_binary_defaults_and_overrides(client, store):
    tensor = struct.pack("<12d", *FLAT)  # FP64, no Content-Type at all
    payload, headers = _binary_request({
        "parameters": {"binary_data_output": True},
        "inputs": [{"name": "features", "shape": [3, 4], "datatype": "FP64",
                    "parameters": {"binary_data_size": 96}}],
        "outputs": [{"name": "probabilities"},
                    {"name": "label", "parameters": {"binary_data": False}}]}, tensor)
    head, tail = _split_binary_response(client.post("/v2/models/iris/infer", data=payload,
                                                    headers=headers))
    assert head["outputs"][1]["data"] == SPECIES and len(tail) == 36
    # binary_data_output alone: every default output comes back binary.
    payload, headers = _binary_request({"parameters": {"binary_data_output": True},
                                        "inputs": [_features()]}, b"")
    head, tail = _split_binary_response(client.post("/v2/models/iris/infer", data=payload,
                                                    headers=headers))
    assert [o["parameters"]["binary_data_size"] for o in head["outputs"]] == [
        36, sum(4 + len(s) for s in SPECIES)]
    # A binary input may sit beside JSON ones and JSON answers stay JSON.
    body = json.dumps({"inputs": [_features()]}).encode()
    resp = client.post("/v2/models/iris/infer", data=body, headers={HEADER: str(len(body))})
    assert resp.status_code == 200 and resp.mimetype == "application/json"


# -- agreement ----------------------------------------------------------------------------------

def test_agreement_across_protocols(client, store):
    rows = np.random.default_rng(0).uniform(0, 8, size=(50, 4)).round(3).tolist()
    ours = client.post("/predict", json={"model": "iris", "instances": rows}).get_json()
    tf = client.post("/v1/models/iris:predict", json={"instances": rows}).get_json()
    ks = _infer(client, {"inputs": [_features(rows, (50, 4), "FP64")]})
    tensor = np.asarray(rows, dtype="<f4").tobytes()
    payload, headers = _binary_request({
        "parameters": {"binary_data_output": True},
        "inputs": [{"name": "features", "shape": [50, 4], "datatype": "FP32",
                    "parameters": {"binary_data_size": len(tensor)}}]}, tensor)
    _, tail = _split_binary_response(client.post("/v2/models/iris/infer", data=payload,
                                                 headers=headers))
    expected = np.array(ours["probabilities"])
    np.testing.assert_allclose(tf["predictions"], expected, atol=1e-6)
    np.testing.assert_allclose(np.reshape(ks["outputs"][0]["data"], (50, 3)), expected, atol=1e-6)
    np.testing.assert_allclose(np.frombuffer(tail[:600], "<f4").reshape(50, 3), expected,
                               atol=1e-6)
    assert ks["outputs"][1]["data"] == ours["labels"]


# -- errors -------------------------------------------------------------------------------------

def _bad(inputs=None, **extra):
    return {"inputs": [_features()] if inputs is None else inputs, **extra}


@pytest.mark.parametrize("path, body, status, fragment", [
    ("/v2/models/nope/infer", _bad(), 404, "model 'nope' not found"),
    ("/v2/models/iris/versions/9/infer", _bad(), 404, "version 9"),
    ("/v2/models/iris/versions/staging/infer", _bad(), 404, "alias 'staging'"),
    ("/v2/models/iris/infer", _bad([_features(datatype="BYTES")]), 400, "BYTES is not supported"),
    ("/v2/models/iris/infer", _bad([_features(datatype="FP8")]), 400, "unknown datatype"),
    ("/v2/models/iris/infer", _bad([_features(shape=(3, 3))]), 400, "holds 9 values"),
    ("/v2/models/iris/infer", _bad([_features(shape=(2, 4))]), 400, "data has 12"),
    ("/v2/models/iris/infer", _bad([_features(FLAT[:9], (3, 3))]), 400, "expects 4 features"),
    ("/v2/models/iris/infer", _bad([_features(shape=(12,))]), 400, "must be [N, n_features]"),
    ("/v2/models/iris/infer", _bad([_features(shape=(3, -4))]), 400, "non-negative"),
    ("/v2/models/iris/infer", _bad([_features([[1, 2], [3]], (1, 3))]), 400, "regular"),
    ("/v2/models/iris/infer", _bad([_features(["a"] * 12)]), 400, "numbers only"),
    ("/v2/models/iris/infer", _bad([_features([True] * 12)]), 400, "numbers only"),
    ("/v2/models/iris/infer", _bad([_features([1.5] * 11 + [False])]), 400, "numbers only"),
    ("/v2/models/iris/infer", _bad([_features([0.5] * 12, datatype="INT32")]), 400,
     "needs integers"),
    ("/v2/models/iris/infer", _bad([_features([300] * 12, datatype="UINT8")]), 400,
     "out of range"),
    ("/v2/models/iris/infer", _bad([_features([1e300] * 12, datatype="FP64")]), 400,
     "overflows"),
    ("/v2/models/iris/infer", _bad([{"name": "features", "shape": [3, 4],
                                     "datatype": "FP32"}]), 400, "needs data"),
    ("/v2/models/iris/infer", _bad([]), 400, "non-empty"),
    ("/v2/models/iris/infer", _bad(["x"]), 400, "inputs[0]"),
    ("/v2/models/iris/infer", _bad(outputs=[{"name": "output0"}]), 400, "unknown output"),
    ("/v2/models/iris/infer", _bad(outputs=[{"name": "label"}, {"name": "label"}]), 400,
     "twice"),
    ("/v2/models/iris/infer", _bad(outputs=[{"name": "label", "parameters": {
        "binary_data": "yes"}}]), 400, "true or false"),
    ("/v2/models/iris/infer", _bad(outputs=[{"name": "label", "parameters": {
        "classification": 2}}]), 400, "only 'probabilities'"),
    ("/v2/models/iris/infer", _bad(outputs=[{"name": "probabilities", "parameters": {
        "classification": 0}}]), 400, "positive integer"),
    ("/v2/models/iris/infer", _bad(id=42), 400, "id"),
    ("/v2/models/iris/infer", _bad(parameters=[1]), 400, "parameters"),
    ("/v2/models/iris/infer", _bad([{"name": n, "shape": [1], "datatype": "FP32", "data": [1]}
                                    for n in FEATURES[:3]]), 400, "missing feature"),
    ("/v2/models/iris-plain/infer", _bad([_features(name="a"), _features(name="b")]), 400,
     "not trained with feature names"),
    ("/v2/models/nope", None, 404, "not found"),
    ("/v2/models/iris/versions/0", None, 404, "version 0"),
    ("/v2/models/ba$d/ready", None, 404, "not found"),
    ("/v2/nothing", None, 404, "not found"),
])
def test_errors(client, store, path, body, status, fragment):
    resp = client.post(path, json=body) if body is not None else client.get(path)
    assert fragment in error_of(resp, status)


def _raw(client, payload: bytes, length: str):
    return client.post("/v2/models/iris/infer", data=payload, headers={HEADER: length})


def test_binary_errors(client, store):
    tensor = struct.pack("<12f", *FLAT)
    spec = {"name": "features", "shape": [3, 4], "datatype": "FP32",
            "parameters": {"binary_data_size": 48}}
    payload, headers = _binary_request({"inputs": [spec]}, tensor)
    for length in ("abc", "-1", str(len(payload) + 1), "1e3"):
        assert HEADER in error_of(_raw(client, payload, length), 400)
    error_of(_raw(client, payload, "0"), 400)  # empty JSON header
    short, headers = _binary_request({"inputs": [spec]}, tensor[:40])
    assert "only 40 bytes" in error_of(client.post("/v2/models/iris/infer", data=short,
                                                   headers=headers), 400)
    extra, headers = _binary_request({"inputs": [spec]}, tensor + b"\0\0\0\0")
    assert "4 bytes" in error_of(client.post("/v2/models/iris/infer", data=extra,
                                             headers=headers), 400)
    wrong = {**spec, "parameters": {"binary_data_size": 44}}
    payload, headers = _binary_request({"inputs": [wrong]}, tensor[:44])
    assert "needs 48" in error_of(client.post("/v2/models/iris/infer", data=payload,
                                              headers=headers), 400)
    both = {**spec, "data": FLAT}
    payload, headers = _binary_request({"inputs": [both]}, tensor)
    assert "not both" in error_of(client.post("/v2/models/iris/infer", data=payload,
                                              headers=headers), 400)
    nan = struct.pack("<12f", *([float("nan")] + FLAT[1:]))
    payload, headers = _binary_request({"inputs": [spec]}, nan)
    assert "not finite" in error_of(client.post("/v2/models/iris/infer", data=payload,
                                                headers=headers), 400)
    # Binary data without the header that says where the JSON ends is not JSON.
    error_of(client.post("/v2/models/iris/infer", data=payload), 400)


def test_compressed_bodies(client, make_client, store):
    tensor = struct.pack("<12f", *FLAT)
    payload, headers = _binary_request({"inputs": [
        {"name": "features", "shape": [3, 4], "datatype": "FP32",
         "parameters": {"binary_data_size": 48}}]}, tensor)
    expected = _infer(client, {"inputs": [_features()]})
    for encoding, pack in (("gzip", gzip.compress), ("deflate", zlib.compress)):
        resp = client.post("/v2/models/iris/infer", data=pack(payload),
                           headers={**headers, "Content-Encoding": encoding})
        assert resp.status_code == 200 and resp.get_json() == expected, resp.get_data()
    hdrs = {**headers, "Content-Encoding": "gzip"}
    cut = gzip.compress(payload)[:-12]
    assert "truncated" in error_of(client.post("/v2/models/iris/infer", data=cut,
                                               headers=hdrs), 400)
    assert "not valid gzip" in error_of(client.post("/v2/models/iris/infer", data=payload,
                                                    headers=hdrs), 400)
    error_of(client.post("/v2/models/iris/infer", data=payload,
                         headers={**headers, "Content-Encoding": "br"}), 415)
    bomb = gzip.compress(b" " * 10_000_000)  # 10 MB of JSON whitespace in ~10 kB
    small = make_client(max_body_mb=1)
    assert "decompressed" in error_of(small.post("/v2/models/iris/infer", data=bomb,
                                                 headers={"Content-Encoding": "gzip"}), 413)


@pytest.mark.parametrize("raw", [b"{", b"", b"[1]", b'{"inputs": [], "inputs": []}'])
def test_malformed_json(client, store, raw):
    error_of(client.post("/v2/models/iris/infer", data=raw), 400)


def test_limits(make_client, store):
    client = make_client(max_rows=2, max_features=3, max_body_mb=0.002)
    assert "limit" in error_of(client.post("/v2/models/iris/infer", json=_bad()), 400)
    one = {"inputs": [_features(FLAT[:4], (1, 4))]}
    assert "limit" in error_of(client.post("/v2/models/iris/infer", json=one), 400)
    big = {"inputs": [_features([1.5] * 800, (200, 4))]}
    assert "limit" in error_of(client.post("/v2/models/iris/infer", json=big), 413)


def test_openapi_documents_both_protocols(client, store):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    for path in ("/v1/models/{name}", "/v1/models/{name}/versions/{version}/metadata",
                 "/v1/models/{name}:predict", "/v1/models/{name}/labels/{label}:classify",
                 "/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{name}",
                 "/v2/models/{name}/versions/{version}/ready", "/v2/models/{name}/infer"):
        assert path in paths, path
    infer = paths["/v2/models/{name}/infer"]["post"]
    assert {"application/json", "application/octet-stream"} <= set(
        infer["requestBody"]["content"])
    for op, code in ((infer, "400"), (paths["/v1/models/{name}:predict"]["post"], "404")):
        schema = op["responses"][code]["content"]["application/json"]["schema"]
        name = schema["$ref"].rsplit("/", 1)[-1]
        assert spec["components"]["schemas"][name]["properties"] == {
            "error": {"type": "string", "description": "What went wrong."}}
    json.dumps(spec)  # serialisable as a whole
