"""``POST /predict`` in process (flaskr style: ``create_app(test_config)`` and its test client).

Happy paths against the engine's own answer; every error path a client can hit, each with its
status, problem+json and the field it names.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from models import MLPClassifier
from tests.protocol_models import ROWS, SPECIES

PROBLEM = "application/problem+json"


@pytest.fixture
def client(make_client):
    """Over the store of the protocol models (conftest's ``store``)."""
    return make_client()


def _engine(store, name: str, version: int) -> MLPClassifier:
    return MLPClassifier.load(io.BytesIO(store.artifact_path(name, version).read_bytes()))


def _ok(resp) -> dict:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    return resp.get_json()


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body = resp.get_json(force=True)
    assert body["status"] == status and body["detail"]
    return body


# -- happy paths --------------------------------------------------------------------------------

@pytest.mark.parametrize("version, expected", [
    (None, 2), ("latest", 2), (1, 1), (2, 2), ("2", 2), ("0001", 1), ("prod", 1)])
def test_predicts_the_version_asked_for(client, store, version, expected):
    body = {"model": "iris", "instances": ROWS}
    if version is not None:
        body["version"] = version
    out = _ok(client.post("/predict", json=body))
    assert out["model"] == "iris" and out["version"] == expected
    engine = _engine(store, "iris", expected)
    assert out["classes"] == SPECIES == engine.classes_.tolist()
    proba = np.array(out["probabilities"])
    np.testing.assert_allclose(proba, engine.predict_proba(np.array(ROWS)), atol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert out["labels"] == [SPECIES[i] for i in proba.argmax(axis=1)]


def test_version_null_is_the_newest(client):
    assert _ok(client.post("/predict", json={"model": "iris", "version": None,
                                             "instances": ROWS}))["version"] == 2


def test_integer_classes_stay_integers(client, store):
    out = _ok(client.post("/predict", json={"model": "iris-plain", "instances": ROWS}))
    assert out["classes"] == [0, 1, 2]
    assert all(isinstance(label, int) for label in out["labels"])
    np.testing.assert_array_equal(out["labels"],
                                  _engine(store, "iris-plain", 1).predict(np.array(ROWS)))


def test_integers_and_one_row(client):
    out = _ok(client.post("/predict", json={"model": "iris", "instances": [[5, 3, 1, 0]]}))
    assert len(out["probabilities"]) == 1 and len(out["labels"]) == 1


def test_rows_at_the_limits_are_served(make_client):
    client = make_client(max_rows=3, max_features=4)
    assert len(_ok(client.post("/predict", json={"model": "iris",
                                                 "instances": ROWS}))["labels"]) == 3


# -- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field, fragment", [
    ({"instances": ROWS}, "model", "Missing data"),
    ({"model": "iris"}, "instances", "Missing data"),
    ({"model": 3, "instances": ROWS}, "model", "Not a valid string"),
    ({"model": "a/b", "instances": ROWS}, "model", "1-64 characters"),
    ({"model": "iris", "instances": ROWS, "extra": 1}, "extra", "Unknown field"),
    ({"model": "iris", "version": 0, "instances": ROWS}, "version", "start at 1"),
    ({"model": "iris", "version": 10**18, "instances": ROWS}, "version", "end at"),
    ({"model": "iris", "version": True, "instances": ROWS}, "version", "version number"),
    ({"model": "iris", "version": 1.5, "instances": ROWS}, "version", "version number"),
    ({"model": "iris", "version": "", "instances": ROWS}, "version", "version number"),
    ({"model": "iris", "version": "../x", "instances": ROWS}, "version", "version number"),
    ({"model": "iris", "instances": []}, "instances", "non-empty"),
    ({"model": "iris", "instances": "rows"}, "instances", "non-empty list"),
    ({"model": "iris", "instances": [1, 2, 3, 4]}, "instances", "2-D"),
    ({"model": "iris", "instances": [[1, 2, 3, 4], [1, 2]]}, "instances[1]", "ragged"),
    ({"model": "iris", "instances": [[1, 2, "x", 4]]}, "instances[0][2]", "must be a number"),
    ({"model": "iris", "instances": [[1, 2, None, 4]]}, "instances[0][2]", "must be a number"),
    ({"model": "iris", "instances": [[1, 2, True, 4]]}, "instances[0][2]", "must be a number"),
    ({"model": "iris", "instances": [[1, 2, 1e39, 4]]}, "instances[0][2]", "overflows"),
    ({"model": "iris", "instances": [[1, 2, 3]]}, "instances", "expects 4 features"),
])
def test_invalid_bodies_are_422_naming_the_field(client, body, field, fragment):
    problem = _problem(client.post("/predict", json=body), 422)
    assert fragment in " ".join(problem["errors"][field]), problem
    assert field in problem["detail"]


def test_several_invalid_fields_are_all_named(client):
    problem = _problem(client.post("/predict", json={"model": 3, "version": 0, "x": 1}), 422)
    assert set(problem["errors"]) == {"model", "version", "instances", "x"}


def test_nan_is_422_naming_the_cell(client):
    raw = b'{"model": "iris", "instances": [[1, 2, 3, 4], [1, NaN, 3, 4]]}'
    problem = _problem(client.post("/predict", data=raw, content_type="application/json"), 422)
    assert "instances[1][1]" in problem["errors"]


def test_row_and_feature_limits_are_422(make_client):
    client = make_client(max_rows=2, max_features=3)
    problem = _problem(client.post("/predict", json={"model": "iris", "instances": ROWS}), 422)
    assert "limit is 2" in problem["errors"]["instances"][0]
    problem = _problem(client.post("/predict", json={"model": "iris", "instances": ROWS[:1]}),
                       422)
    assert "limit is 3" in problem["errors"]["instances"][0]


@pytest.mark.parametrize("body, fragment", [
    ({"model": "ghost", "instances": ROWS}, "model 'ghost'"),
    ({"model": "iris", "version": 9, "instances": ROWS}, "version 9"),
    ({"model": "iris", "version": "staging", "instances": ROWS}, "staging"),
])
def test_what_does_not_exist_is_404(client, body, fragment):
    assert fragment in _problem(client.post("/predict", json=body), 404)["detail"]


def test_the_body_is_checked_before_the_store(client):
    """A malformed body for a model that does not exist is the client's 422, not a 404."""
    _problem(client.post("/predict", json={"model": "ghost", "instances": [[1], [1, 2]]}), 422)


@pytest.mark.parametrize("raw", [b"", b"{", b"[1, 2]", b'"iris"', b'{"model": "a", "model": "b"}'])
def test_malformed_json_is_400(client, raw):
    _problem(client.post("/predict", data=raw, content_type="application/json"), 400)


def test_body_over_the_limit_is_413(make_client):
    client = make_client(max_body_mb=0.001)
    rows = [ROWS[0]] * 100
    _problem(client.post("/predict", json={"model": "iris", "instances": rows}), 413)


def test_other_methods_are_405(client):
    resp = client.get("/predict")
    _problem(resp, 405)
    assert "POST" in resp.headers["Allow"]


def test_a_csv_body_is_read_by_feature_name(client):
    """A numeric model with named features takes a CSV's columns by name, in any order."""
    from tests.protocol_models import FEATURES

    header = list(reversed(FEATURES))
    csv = ",".join(header) + "\n" + "\n".join(
        ",".join(str(row[FEATURES.index(h)]) for h in header) for row in ROWS) + "\n"
    by_csv = client.post("/predict?model=iris&version=1", data=csv, content_type="text/csv")
    by_json = client.post("/predict", json={"model": "iris", "version": 1, "instances": ROWS})
    assert by_csv.status_code == 200, by_csv.get_data(as_text=True)
    assert by_csv.get_json()["probabilities"] == by_json.get_json()["probabilities"]
    bad = client.post("/predict?model=iris", data=csv.replace(str(ROWS[1][0]), "big", 1),
                      content_type="text/csv")
    assert bad.status_code == 422 and list(bad.get_json()["errors"]) == ["csv line 3"]
    missing = client.post("/predict?model=iris", data="sepal_length\n5.1\n",
                          content_type="text/csv")
    assert missing.status_code == 422 and "is missing" in missing.get_json()["detail"]
