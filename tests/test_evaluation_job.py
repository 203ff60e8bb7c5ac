"""Held-out evaluation in the training job: the stratified, seeded test split (numeric and
tabular data), rows never trained on, a skipped split's note, ``evaluation`` in meta.json and in
``GET /models/<name>/versions/<v>``, and the ``test_split`` and ``description`` request fields."""

from __future__ import annotations

import numpy as np
import pytest

from models import MLPClassifier
from models.metrics import evaluate
from models.tabular import Table
from service import create_app
from service.config import Settings
from service.errors import Unprocessable
from service.jobs import JobService
from service.jobs import task as task_module
from service.jobs.datasets import Dataset
from service.jobs.evaluation import hold_out, take
from service.jobs.interrupts import TaskInterrupts
from service.jobs.task import _run
from service.store import ModelStore

SMALL = {"hidden_layers": [8], "epochs": 5, "batch_size": 16}


def blobs(rows: int = 60, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % classes
    return rng.normal(size=(rows, 4)) + y[:, None] * 2.0, y


@pytest.fixture
def svc(tmp_path) -> JobService:
    settings = Settings.from_env({"store": tmp_path, "queue": "sqlite"}, environ={})
    return JobService(settings, ModelStore(tmp_path))


def train(svc: JobService, X, y, params: dict, **kw) -> dict:
    """Submit and run the job in this process; the meta.json of the version it published."""
    job, _ = svc.submit("m", X, y, params, **kw)
    with TaskInterrupts() as signals:
        _run(svc.settings, svc.job_store, job["job_id"], signals)
    done = svc.get(job["job_id"])
    assert done["status"] == "succeeded", done["error"]
    return ModelStore(svc.settings.store).meta("m", done["model_version"])


# -- the split -----------------------------------------------------------------------------------

def test_split_is_stratified_seeded_and_disjoint():
    y = np.array([0] * 50 + [1] * 30 + [2] * 7)
    data = Dataset(np.arange(len(y), dtype=float)[:, None], y, None, {})
    held = hold_out(data, 0.2, seed=5)
    assert np.bincount(y[held.test_rows]).tolist() == [10, 6, 1]  # 7 * 0.2 = 1.4 → 1
    assert np.intersect1d(held.train_rows, held.test_rows).size == 0
    assert np.union1d(held.train_rows, held.test_rows).tolist() == list(range(len(y)))
    assert held.X.shape == (70, 1) and held.y.tolist() == y[held.train_rows].tolist()
    again = hold_out(data, 0.2, seed=5)
    assert again.test_rows.tolist() == held.test_rows.tolist()
    assert hold_out(data, 0.2, seed=6).test_rows.tolist() != held.test_rows.tolist()
    assert held.split() == {"test_split": 0.2, "seed": 5, "stratified": True, "train_rows": 70,
                            "test_rows": 17, "note": None}


def test_a_class_too_small_skips_the_split_with_a_note():
    y = np.array(["a"] * 20 + ["b"] * 2)
    held = hold_out(Dataset(np.zeros((22, 1)), y, None, {}), 0.2, seed=0)
    assert held.test_rows.size == 0 and held.train_rows.size == 22
    assert "'b' has 2 rows" in held.note and "at least 3" in held.note
    off = hold_out(Dataset(np.zeros((22, 1)), y, None, {}), 0.0, seed=0)
    assert off.test_rows.size == 0 and "test_split is 0" in off.note


def test_tabular_rows_are_taken_and_types_pinned_to_the_whole_set():
    # "maybe" makes the column categorical; were it only in test rows, the training rows alone
    # would read it as boolean and the test rows would not fit it.
    answer = ["yes", "no"] * 10 + ["maybe"]
    y = np.array([0, 1] * 10 + [1])
    table = Table(["answer", "x"], [answer, [str(i) for i in range(21)]], text=True)
    held = hold_out(Dataset(table, y, ["answer", "x"], {"max_categories": 4}), 0.5, seed=0)
    part = take(table, held.train_rows)
    assert isinstance(part, Table) and part.n_rows == held.train_rows.size
    assert part.column("x") == [str(i) for i in held.train_rows]
    if 20 in held.test_rows:
        assert held.encoding == {"max_categories": 4,
                                 "feature_types": {"answer": "categorical"}}
    for seed in range(20):  # whichever rows the seed holds out, the test rows encode
        held = hold_out(Dataset(table, y, ["answer", "x"], {}), 0.5, seed=seed)
        clf = MLPClassifier(epochs=1, hidden_layers=[2]).fit(held.X, held.y, **held.encoding)
        assert held.evaluation(clf)["test"]["rows"] == held.test_rows.size


# -- the job -------------------------------------------------------------------------------------

def test_job_holds_out_rows_it_never_trains_on_and_records_their_metrics(svc, monkeypatch):
    seen: list[np.ndarray] = []

    class Spy(MLPClassifier):
        def fit(self, X, y, *args, **kwargs):
            seen.append(np.asarray(X))
            return super().fit(X, y, *args, **kwargs)

    monkeypatch.setattr(task_module, "MLPClassifier", Spy)
    X, y = blobs(84)
    meta = train(svc, X, y, {**SMALL, "test_split": 0.25, "seed": 3})
    ev = meta["evaluation"]
    assert ev["split"] == {"test_split": 0.25, "seed": 3, "stratified": True, "train_rows": 63,
                           "test_rows": 21, "note": None}
    held = hold_out(Dataset(X, y, None, {}), 0.25, 3)
    trained_on = {tuple(r) for r in seen[0]}
    assert len(seen[0]) == 63 and not trained_on & {tuple(r) for r in X[held.test_rows]}
    clf = MLPClassifier.load(ModelStore(svc.settings.store).artifact_path("m", 1))
    proba = clf.predict_proba(X)
    assert ev["test"] == evaluate(y[held.test_rows], proba[held.test_rows], clf.classes_)
    assert ev["train"] == evaluate(y[held.train_rows], proba[held.train_rows], clf.classes_)
    assert meta["dataset"]["rows"] == 84 and meta["dataset"]["class_counts"] == [28, 28, 28]
    assert "test_split" not in meta["params"]  # a job option, not the model's


def test_test_split_0_and_a_skipped_split_train_on_everything(svc):
    X, y = blobs(30)
    meta = train(svc, X, y, {**SMALL, "test_split": 0})
    assert meta["evaluation"]["test"] is None and meta["evaluation"]["train"]["rows"] == 30
    X, y = blobs(8, classes=4)  # 2 rows per class
    meta = train(svc, X, y, SMALL)
    ev = meta["evaluation"]
    assert ev["split"]["test_split"] == 0.2 and ev["split"]["test_rows"] == 0
    assert "skipped" in ev["split"]["note"] and ev["test"] is None
    assert ev["train"]["rows"] == 8


def test_tabular_job_is_evaluated(svc):
    rng = np.random.default_rng(0)
    records = [{"colour": ["red", "green", "blue"][i % 3], "size": float(rng.normal()),
                "ok": bool(i % 2)} for i in range(60)]
    labels = ["warm" if r["colour"] == "red" else "cool" for r in records]
    meta = train(svc, records, labels, SMALL, description="Colours: warm or cool.")
    ev = meta["evaluation"]
    assert (ev["split"]["train_rows"], ev["split"]["test_rows"]) == (48, 12)
    assert ev["test"]["classes"] == ["cool", "warm"] and ev["test"]["rows"] == 12
    assert meta["description"] == "Colours: warm or cool."
    assert meta["dataset"]["class_counts"] == [40, 20]


def test_version_endpoint_shows_the_evaluation(svc):
    X, y = blobs(60)
    meta = train(svc, X, y, SMALL, description="blobs")
    client = create_app({"store": svc.settings.store}).test_client()
    got = client.get("/models/m/versions/1").get_json()
    assert got["evaluation"] == meta["evaluation"] and got["description"] == "blobs"
    assert got["evaluation"]["test"]["per_class"][0]["class"] == 0


@pytest.mark.parametrize("value", [0.6, -0.1, "a lot", True])
def test_bad_test_split_is_422_naming_it(svc, value):
    X, y = blobs()
    with pytest.raises(Unprocessable) as info:
        svc.submit("m", X, y, {"test_split": value})
    assert "params.test_split" in info.value.errors


@pytest.mark.parametrize("value", ["", "  ", 7, "x" * 4001])
def test_bad_description_is_422_naming_it(svc, value):
    X, y = blobs()
    with pytest.raises(Unprocessable) as info:
        svc.submit("m", X, y, {}, description=value)
    assert "description" in info.value.errors


def test_train_request_fields_over_http(settings_overrides):
    client = create_app(settings_overrides).test_client()
    body = {"model": "m", "data": {"features": [[0, 1], [1, 0]], "labels": [0, 1]},
            "params": {"test_split": 0.3}, "description": "two rows"}
    job = client.post("/train", json=body).get_json()
    assert job["params"]["test_split"] == 0.3 and job["description"] == "two rows"
    bad = client.post("/train", json={**body, "params": {"test_split": 0.9}})
    assert bad.status_code == 422 and "params.test_split" in bad.get_json()["errors"]
    csv = "a,b,label\n0,1,x\n1,0,y\n"
    job = client.post("/train?model=c&description=from%20a%20CSV", data=csv,
                      content_type="text/csv").get_json()
    assert job["description"] == "from a CSV" and job["params"]["test_split"] == 0.2
