"""Tabular models through the service, in process: every request shape of every protocol gives
the same answer, coercions are reported and counted, and bad input is a 4xx naming it."""

from __future__ import annotations

import csv
import io
import json
import struct

import numpy as np
import pytest

from models import MLPClassifier
from service import create_app
from service.jobs.task import version_meta
from service.store import ModelStore
from tests.test_engine_tabular_fit import mixed_data

N = 40  # rows sent back in every shape


@pytest.fixture(scope="module")
def trained():
    records, labels = mixed_data(400, seed=3)
    clf = MLPClassifier(hidden_layers=(16,), epochs=20, learning_rate=0.01, seed=0)
    clf.fit(records, labels, feature_types={"const": "categorical"})
    return clf, records[:N]


@pytest.fixture
def client(tmp_path, trained):
    clf, _ = trained
    buf = io.BytesIO()
    clf.save(buf)
    meta = version_meta(clf, clf.history_, {"rows": 400, "features": 6, "sha256": "0" * 64},
                        None, 1.0)
    ModelStore(tmp_path / "store").publish("mixed", buf.getvalue(), meta)
    app = create_app({"store": tmp_path / "store"})
    app.config["TESTING"] = True
    return app.test_client()


def _ok(resp) -> dict:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def _csv(names: list[str], records: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    for r in records:
        writer.writerow(["" if r.get(n) is None else str(r[n]).lower()
                         if isinstance(r[n], bool) else r[n] for n in names])
    return out.getvalue()


def test_every_shape_of_every_protocol_answers_alike(client, trained):
    clf, records = trained
    names = clf.feature_names_
    expected = clf.predict_proba(records)
    rows = [[r.get(n) for n in names] for r in records]
    columns = {n: [r.get(n) for r in records] for n in names}
    kserve_inputs = []
    for n in names:
        col = columns[n]
        kind = {c["name"]: c["type"] for c in clf.input_schema()}[n]
        if kind == "categorical":
            spec = {"datatype": "BYTES", "data": [str(v) for v in col]}
        elif kind == "boolean":
            spec = {"datatype": "BOOL", "data": col}
        else:
            if any(v is None for v in col):
                continue  # a V2 tensor has no nulls: leave the feature out, all missing...
            spec = {"datatype": "FP64", "data": col}
        kserve_inputs.append({"name": n, "shape": [N], **spec})
    answers = {
        "rows": _ok(client.post("/predict", json={"model": "mixed", "instances": rows})
                    )["probabilities"],
        "records": _ok(client.post("/predict", json={"model": "mixed", "instances": records})
                       )["probabilities"],
        "csv": _ok(client.post("/predict?model=mixed", data=_csv(names, records),
                               content_type="text/csv"))["probabilities"],
        "tf rows": _ok(client.post("/v1/models/mixed:predict", json={"instances": records})
                       )["predictions"],
        "tf columns": _ok(client.post("/v1/models/mixed:predict", json={"inputs": columns})
                          )["outputs"],
    }
    for shape, probs in answers.items():
        np.testing.assert_allclose(probs, expected, rtol=1e-6, atol=1e-7, err_msg=shape)
    # ...so V2 is compared on the rows whose numeric cells are all present
    present = [i for i, r in enumerate(records) if r["size"] is not None]
    v2 = []
    for spec in kserve_inputs:
        v2.append({**spec, "shape": [len(present)], "data": [spec["data"][i] for i in present]})
    v2.append({"name": "size", "shape": [len(present)], "datatype": "FP64",
               "data": [records[i]["size"] for i in present]})
    out = _ok(client.post("/v2/models/mixed/infer", json={"inputs": v2}))["outputs"][0]
    np.testing.assert_allclose(np.reshape(out["data"], out["shape"]), expected[present],
                               rtol=1e-6, atol=1e-7)


def test_v2_metadata_lists_one_input_per_feature(client):
    meta = _ok(client.get("/v2/models/mixed"))
    inputs = {i["name"]: (i["datatype"], i["shape"]) for i in meta["inputs"]}
    assert inputs["colour"] == ("BYTES", [-1]) and inputs["flag"] == ("BOOL", [-1])
    assert inputs["size"] == ("FP64", [-1])


def test_binary_bytes_tensors_are_read(client, trained):
    _, records = trained
    colours = [r["colour"] for r in records[:3]]
    raw = b"".join(struct.pack("<I", len(c.encode())) + c.encode() for c in colours)
    header = json.dumps({"inputs": [
        {"name": "colour", "shape": [3], "datatype": "BYTES",
         "parameters": {"binary_data_size": len(raw)}},
        {"name": "size", "shape": [3, 1], "datatype": "FP32", "data": [0.1, 0.2, 0.3]}]})
    resp = client.post("/v2/models/mixed/infer", data=header.encode() + raw, headers={
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream"})
    assert len(_ok(resp)["outputs"][0]["data"]) == 3 * 3


def test_coercions_are_reported_and_unseen_categories_counted(client):
    body = _ok(client.post("/predict", json={"model": "mixed", "instances": [
        {"colour": "red", "size": 0.5, "flag": True, "level": "a"},
        {"colour": "Atlantis", "flag": False, "level": "a"}]}))
    assert body["warnings"] == [
        {"row": 1, "feature": "colour", "kind": "unseen_category", "value": "Atlantis"},
        {"row": 1, "feature": "size", "kind": "imputed"}]
    full = _ok(client.post("/predict", json={"model": "mixed", "instances": [
        {"colour": "red", "size": 0.5, "flag": True, "level": "a", "id": "x", "const": 1}]}))
    assert "warnings" not in full
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'nnserve_unseen_categories_total{feature="colour",model="mixed"} 1.0' in metrics


def test_version_metadata_has_the_input_schema(client):
    meta = _ok(client.get("/models/mixed/versions/1"))
    schema = {c["name"]: c for c in meta["input_schema"]}
    assert schema["colour"]["type"] == "categorical" and "red" in schema["colour"]["categories"]
    assert set(schema["size"]) >= {"median", "mean", "std", "missing_rate"}
    assert schema["id"]["dropped"] is True
    assert meta["encoding"]["feature_types"] == {"const": "categorical"}


@pytest.mark.parametrize("instances, field, message", [
    ([{"colour": "red"}, ["red"]], "instances[1]", "rows or records, not both"),
    ([{"colour": "red", "shape": "round"}], "instances[0].shape", "not a feature"),
    ([{"colour": "red", "size": "big"}], "instances[0].size", "numeric column 'size'"),
    ([{"colour": {"r": 1}}], "instances[0].colour", "a cell holds one value"),
    ([["red", 1.0, True, "a", "x"]], "instances[0]", "has 5 cells, expected 6"),
    ([["red", "big", True, "a", "x", 1]], "instances[0][1]", "numeric column 'size'"),
    ([{"flag": "perhaps"}], "instances[0].flag", "boolean column 'flag'"),
])
def test_bad_cells_are_422_naming_them(client, instances, field, message):
    resp = client.post("/predict", json={"model": "mixed", "instances": instances})
    assert resp.status_code == 422, resp.get_data(as_text=True)
    problem = resp.get_json()
    assert list(problem["errors"]) == [field] and message in problem["detail"]


def test_bad_csv_bodies_are_422_naming_line_and_column(client):
    resp = client.post("/predict?model=mixed", data="colour,size\nred,big\n",
                       content_type="text/csv")
    assert resp.status_code == 422
    assert list(resp.get_json()["errors"]) == ["csv line 2 column 'size'"]
    resp = client.post("/predict?model=mixed", data="colour,size\nred\n",
                       content_type="text/csv")
    assert resp.status_code == 422 and list(resp.get_json()["errors"]) == ["csv line 2"]
    resp = client.post("/predict?model=mixed", data="colour,shape\nred,round\n",
                       content_type="text/csv")
    assert resp.status_code == 422 and "shape" in resp.get_json()["detail"]


@pytest.mark.parametrize("data, params, field", [
    ({"records": [{"a": 1, "y": 0}, [1]], "label_column": "y"}, {}, "data.records[1]"),
    ({"records": [{"a": {"b": 1}, "y": 0}, {"a": 2, "y": 1}], "label_column": "y"}, {},
     "data.records[0].a"),
    ({"records": [{"a": 1, "y": 0}, {"a": 2}], "label_column": "y"}, {}, "data.records"),
    ({"records": [{"a": 1}, {"a": 2}], "label_column": "y"}, {}, "data.label_column"),
    ({"records": [{"a": 1}, {"a": 2}], "labels": [0, 1]}, {"feature_types": {"b": "numeric"}},
     "params.feature_types.b"),
    ({"records": [{"a": 1}, {"a": 2}], "labels": [0, 1]}, {"feature_types": {"a": "text"}},
     "params.feature_types.a.value"),
    ({"features": [["x", 1], ["y", 2]], "labels": [0, 1]}, {}, "data.features[0][0]"),
    ({"features": [[1, 1], [2, 2]], "labels": [0, 1]}, {"feature_types": {"a": "numeric"}},
     "data.feature_names"),
    ({"records": [{"a": "x"}, {"a": "y"}]}, {}, "data.labels"),
])
def test_bad_tabular_training_requests_are_422_naming_the_field(client, data, params, field):
    resp = client.post("/train", json={"model": "t", "data": data, "params": params})
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert field in resp.get_json()["errors"], resp.get_json()


def test_tabular_training_requests_are_queued(client):
    records, labels = mixed_data(50)
    for r, label in zip(records, labels, strict=True):
        r["label"] = str(label)
    forms = [
        {"records": records, "label_column": "label"},
        {"records": [{k: v for k, v in r.items() if k != "label"} for r in records],
         "labels": labels.tolist()},
        {"features": [[r["colour"], r["size"], r["flag"]] for r in records],
         "feature_names": ["colour", "size", "flag"], "labels": labels.tolist()},
    ]
    for data in forms:
        resp = client.post("/train", json={"model": "t", "data": data, "params": {"epochs": 2}})
        assert resp.status_code == 202, resp.get_data(as_text=True)
        assert resp.get_json()["dataset"]["rows"] == 50
    resp = client.post("/train?model=t&label_column=label", content_type="text/csv",
                       data=_csv(["colour", "size", "flag", "label"], records))
    assert resp.status_code == 202 and resp.get_json()["dataset"]["features"] == 3
