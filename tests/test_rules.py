"""One source per rule: the HTTP API documents and enforces exactly the engine's own rules."""

from __future__ import annotations

import math

import pytest

from models.params import JOB_PARAM_RANGES, PARAM_RANGES, TABULAR_PARAM_RANGES, check_param
from models.tabular import KINDS
from service import create_app, names

_FEATURES = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    store = tmp_path_factory.mktemp("rules") / "store"
    app = create_app({"store": store, "max_queued_per_model": 10_000,
                      "max_train_work": 10**12})
    app.config["TESTING"] = True
    return app.test_client()


@pytest.fixture(scope="module")
def spec(client) -> dict:
    return client.get("/openapi.json").get_json()


def _documented_range(prop: dict) -> dict:
    """A ``PARAM_RANGES`` entry read back from its OpenAPI schema."""
    kind = prop["type"]
    if kind == "boolean":
        return {"type": "bool"}
    if kind == "string":
        return {"type": "choice", "choices": prop["enum"]}
    if kind == "array":
        return {"type": "int_list", "min": prop["items"]["minimum"],
                "max": prop["items"]["maximum"], "max_length": prop["maxItems"]}
    out = {"type": "int" if kind == "integer" else "float",
           "min": prop["minimum"], "max": prop["maximum"]}
    if prop.get("exclusiveMinimum"):
        out["min_exclusive"] = True
    if prop.get("exclusiveMaximum"):
        out["max_exclusive"] = True
    return out


def test_openapi_params_are_the_engine_ranges(spec):
    documented = spec["components"]["schemas"]["Params"]["properties"]
    ranges = {**PARAM_RANGES, **TABULAR_PARAM_RANGES, **JOB_PARAM_RANGES}
    assert list(documented) == [*ranges, "feature_types"]
    for name, spec_range in ranges.items():
        assert _documented_range(documented[name]) == spec_range, name
    kinds = documented["feature_types"]["additionalProperties"]["enum"]
    assert kinds == list(KINDS)


def _candidates(spec: dict) -> list:
    """Values at and just beyond each bound of a range."""
    kind = spec["type"]
    if kind == "bool":
        return [True, False, 0, "yes"]
    if kind == "choice":
        return [*spec["choices"], "nope", 1]
    lo, hi = spec["min"], spec["max"]
    if kind == "int_list":
        return [[lo], [hi], [lo - 1], [hi + 1], [], [lo] * spec["max_length"],
                [lo] * (spec["max_length"] + 1), [1.5], "64"]
    if kind == "int":
        return [lo, hi, lo - 1, hi + 1, float(lo)]
    return [lo, hi, math.nextafter(lo, -math.inf), math.nextafter(lo, math.inf),
            math.nextafter(hi, -math.inf), math.nextafter(hi, math.inf), str(hi)]


def _engine_accepts(name: str, value: object) -> bool:
    try:
        check_param(name, value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", [*PARAM_RANGES, *JOB_PARAM_RANGES])
def test_http_and_engine_agree_at_every_bound(client, name):
    spec = {**PARAM_RANGES, **JOB_PARAM_RANGES}[name]
    verdicts = []
    for value in _candidates(spec):
        resp = client.post("/train", json={
            "model": "bounds", "params": {name: value},
            "data": {"features": _FEATURES, "labels": [0, 1, 1, 0]}})
        assert resp.status_code in (202, 422), resp.get_data(as_text=True)
        if resp.status_code == 422:
            assert list(resp.get_json()["errors"]) == [f"params.{name}"], resp.get_json()
        accepted = resp.status_code == 202
        assert accepted == _engine_accepts(name, value), (name, value, resp.get_json())
        verdicts.append(accepted)
    if spec["type"] in ("int", "float"):  # an inclusive bound is in, an exclusive one out
        assert verdicts[0] is not bool(spec.get("min_exclusive"))
        assert verdicts[1] is not bool(spec.get("max_exclusive"))
    assert True in verdicts and False in verdicts


def test_drifted_ranges_now_follow_the_engine(client):
    """epochs up to 100 000 and validation_split up to 0.5 inclusive, as the engine allows."""
    for params in ({"epochs": 20_000}, {"validation_split": 0.5}):
        resp = client.post("/train", json={
            "model": "drift", "params": params,
            "data": {"features": _FEATURES, "labels": [0, 1, 1, 0]}})
        assert resp.status_code == 202, resp.get_data(as_text=True)


@pytest.mark.parametrize("body, labels", [
    (None, [0, 1, 1, 9999999999999999999]),  # fits uint64, not int64: was a 500
    (None, [0, 1, 1, 2**63]),
    (None, [0, 1, 1, -2**64]),  # read as a float, as every integer beyond 64 bits
    (b'{"model": "m", "data": {"features": [[0, 1], [1, 0], [1, 1], [0, 0]], '
     b'"labels": [0, 1, 1, 123456789012345678901234567890]}}', None),  # beyond 64 bits
    (None, [0, 1, "a", 0]),
    (None, [0, 1, 1.5, 0]),
    (None, ["a", "b", "", "a"]),
    (None, [0, 1, True, 0]),
])
def test_bad_labels_are_422_naming_data_labels(client, body, labels):
    if body is None:
        resp = client.post("/train", json={"model": "m", "data": {
            "features": _FEATURES, "labels": labels}})
    else:
        resp = client.post("/train", data=body, content_type="application/json")
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert list(resp.get_json()["errors"]) == ["data.labels"], resp.get_json()


def test_int64_labels_at_the_bounds_are_accepted(client):
    resp = client.post("/train", json={"model": "m", "data": {
        "features": _FEATURES, "labels": [-2**63, 2**63 - 1, 2**63 - 1, -2**63]}})
    assert resp.status_code == 202, resp.get_data(as_text=True)


def test_spec_patterns_come_from_service_names(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["TrainRequest"]["properties"]["model"]["pattern"] == names.NAME_PATTERN
    ref = schemas["PredictRequest"]["properties"]["version"]["oneOf"]
    assert ref == [{"type": "integer", "minimum": 1, "maximum": names.MAX_VERSION},
                   {"type": "string", "pattern": names.VERSION_REF_PATTERN}]
    rows, _ = schemas["PredictRequest"]["properties"]["instances"]["oneOf"]
    number = rows["items"]["items"]["oneOf"][0]
    assert number["maximum"] == names.FLOAT32_MAX == -number["minimum"]

