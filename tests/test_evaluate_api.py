"""``POST /models/<name>/versions/<v>/evaluate``: every data form /train takes gives the metrics
of ``models.metrics.evaluate`` on the model's own probabilities; bad labels are 422s; nothing is
written; the predict scope is enough."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from sklearn.datasets import load_iris

from models import MLPClassifier
from models.metrics import evaluate
from service import create_app
from service.store import ModelStore
from tests.protocol_models import FEATURES, SPECIES
from tests.test_engine_tabular_fit import mixed_data
from tests.test_tabular_service import _csv

X, _Y = load_iris(return_X_y=True)
NAMES = np.array(SPECIES)[_Y]


def _expected(store: ModelStore, name: str, version: int, X, y) -> dict:
    clf = MLPClassifier.load(store.artifact_path(name, version))
    return {"model": name, "version": version,
            **evaluate(y, clf.predict_proba(X), clf.classes_)}


def _ok(resp) -> dict:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    return resp.get_json()


def _error(resp, field: str) -> str:
    assert resp.status_code == 422, resp.get_data(as_text=True)
    errors = resp.get_json()["errors"]
    assert field in errors, errors
    return errors[field][0]


def test_rows_and_labels_by_number_alias_and_latest(client, store):
    body = {"data": {"features": X.tolist(), "labels": NAMES.tolist()}}
    assert _ok(client.post("/models/iris/versions/1/evaluate", json=body)) == \
        _expected(store, "iris", 1, X, NAMES)
    assert _ok(client.post("/models/iris/versions/prod/evaluate", json=body))["version"] == 1
    latest = _ok(client.post("/models/iris/versions/latest/evaluate", json=body))
    assert latest == _expected(store, "iris", 2, X, NAMES)
    plain = {"data": {"features": X.tolist(), "labels": _Y.tolist()}}
    assert _ok(client.post("/models/iris-plain/versions/1/evaluate", json=plain)) == \
        _expected(store, "iris-plain", 1, X, _Y)


def test_named_columns_in_any_order_and_csv(client, store):
    order = FEATURES[::-1]
    body = {"data": {"features": X[:, ::-1].tolist(), "labels": NAMES.tolist(),
                     "feature_names": order}}
    expected = _expected(store, "iris", 1, X, NAMES)
    assert _ok(client.post("/models/iris/versions/1/evaluate", json=body)) == expected
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["species", *order])
    writer.writerows([[label, *row] for label, row in zip(NAMES, X[:, ::-1].tolist(),
                                                          strict=True)])
    resp = client.post("/models/iris/versions/1/evaluate?label_column=species",
                       data=out.getvalue(), content_type="text/csv")
    assert _ok(resp) == expected
    # integer classes: the CSV's labels read as integers
    text = "a,b,c,d,label\n" + "\n".join(",".join(map(str, [*row, lab]))
                                         for row, lab in zip(X.tolist(), _Y, strict=True))
    resp = client.post("/models/iris-plain/versions/1/evaluate", data=text,
                       content_type="text/csv")
    assert _ok(resp) == _expected(store, "iris-plain", 1, X, _Y)


@pytest.fixture(scope="module")
def tabular_artifact():
    records, labels = mixed_data(300, seed=4)
    clf = MLPClassifier(hidden_layers=(8,), epochs=10, learning_rate=0.01, seed=0)
    clf.fit(records, labels)
    buf = io.BytesIO()
    clf.save(buf)
    meta = {"n_features": clf.n_features_in_, "classes": clf.classes_.tolist(),
            "params": clf.get_params(), "feature_names": clf.feature_names_}
    return buf.getvalue(), meta


def test_tabular_records_label_column_rows_and_csv(client, store, tabular_artifact):
    store.publish("mixed", *tabular_artifact)
    records, labels = mixed_data(60, seed=9)
    expected = _expected(store, "mixed", 1, records, labels)
    url = "/models/mixed/versions/1/evaluate"
    by_labels = {"data": {"records": records, "labels": labels.tolist()}}
    assert _ok(client.post(url, json=by_labels)) == expected
    inline = [{**r, "target": str(lab)} for r, lab in zip(records, labels, strict=True)]
    by_column = {"data": {"records": inline, "label_column": "target"}}
    assert _ok(client.post(url, json=by_column)) == expected
    names = list(records[0])[::-1]
    rows = {"data": {"features": [[r[n] for n in names] for r in records],
                     "feature_names": names, "labels": labels.tolist()}}
    assert _ok(client.post(url, json=rows)) == expected
    text = _csv([*names, "target"], inline)
    resp = client.post(url + "?label_column=target", data=text, content_type="text/csv")
    assert _ok(resp) == expected


def test_bad_labels_are_422_naming_them(client, store):
    url = "/models/iris/versions/1/evaluate"
    rows = X[:3].tolist()
    message = _error(client.post(url, json={"data": {"features": rows,
                                                     "labels": ["setosa", "rose", "tulip"]}}),
                     "data.labels")
    assert "'rose', 'tulip'" in message and "setosa" in message
    _error(client.post(url, json={"data": {"features": rows, "labels": ["setosa"]}}),
           "data.labels")
    _error(client.post(url, json={"data": {"features": rows, "labels": [0, 1, 2]}}),
           "data.labels")  # integers are not the model's string classes
    _error(client.post(url, json={"data": {"features": rows, "labels": [True, False, True]}}),
           "data.labels")
    resp = client.post(url + "?label_column=kind",
                       data=f"kind,{','.join(FEATURES)}\nrose,1,2,3,4\n",
                       content_type="text/csv")
    assert "rose" in _error(resp, "csv column 'kind'")
    records = [{"sepal_length": 1.0}, {"sepal_length": 2.0, "y": "setosa"}]
    _error(client.post(url, json={"data": {"records": records, "label_column": "y"}}),
           "data.records")


def test_bad_rows_and_refs(client, store):
    url = "/models/iris/versions/1/evaluate"
    labels = ["setosa", "setosa"]
    _error(client.post(url, json={"data": {"features": [[1, 2], [3, 4]], "labels": labels}}),
           "data.features")
    _error(client.post(url, json={"data": {"features": [[1, 2, 3, 4]] * 2, "labels": labels,
                                           "feature_names": ["a", "b", "c", "d"]}}),
           "data.feature_names")
    _error(client.post(url, json={"data": {"labels": labels}}), "data.features")
    _error(client.post(url, json={"features": [[1, 2, 3, 4]], "labels": ["setosa"]}), "data")
    assert client.post("/models/nope/versions/1/evaluate",
                       json={"data": {"features": [[1]], "labels": [0]}}).status_code == 404
    assert client.post("/models/iris/versions/9/evaluate",
                       json={"data": {"features": [[1]], "labels": [0]}}).status_code == 404
    assert client.post("/models/iris/versions/staging/evaluate",
                       json={"data": {"features": [[1]], "labels": [0]}}).status_code == 404
    assert client.post(url, data="x", content_type="text/plain").status_code == 415


def test_nothing_is_written(client, store, tmp_path):
    root = tmp_path / "store"
    before = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    body = {"data": {"features": X.tolist(), "labels": NAMES.tolist()}}
    _ok(client.post("/models/iris/versions/1/evaluate", json=body))
    assert client.get("/models/iris/versions/1/card").status_code == 200
    after = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    assert after == before


def test_predict_scope_is_enough(settings_overrides, store):
    client = create_app({**settings_overrides,
                         "api_keys": "p-key:predict,t-key:train"}).test_client()
    body = {"data": {"features": X[:5].tolist(), "labels": NAMES[:5].tolist()}}
    url = "/models/iris/versions/1/evaluate"
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers={"Authorization": "Bearer t-key"}).status_code \
        == 403
    assert client.post(url, json=body,
                       headers={"Authorization": "Bearer p-key"}).status_code == 200
    card = "/models/iris/versions/1/card"
    assert client.get(card).status_code == 401
    assert client.get(card, headers={"Authorization": "Bearer p-key"}).status_code == 200


def test_openapi_documents_both_routes(client):
    spec = client.get("/openapi.json").get_json()
    evaluate_op = spec["paths"]["/models/{name}/versions/{version}/evaluate"]["post"]
    assert "application/json" in evaluate_op["requestBody"]["content"]
    assert "text/csv" in evaluate_op["requestBody"]["description"]
    response = evaluate_op["responses"]["200"]["content"]["application/json"]["schema"]
    assert response["$ref"].endswith("EvaluateResponse")
    props = spec["components"]["schemas"]["EvaluateResponse"]["properties"]
    assert {"model", "version", "accuracy", "per_class", "calibration"} <= set(props)
    card_op = spec["paths"]["/models/{name}/versions/{version}/card"]["get"]
    assert "text/markdown" in card_op["responses"]["200"]["content"]
    version = spec["components"]["schemas"]["VersionMeta"]["properties"]
    assert "evaluation" in version and "description" in version
