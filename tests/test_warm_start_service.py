"""``params.warm_start_from`` through the service: checked at submit (422 naming what differs),
trained from the parent in the job, lineage in the new version's metadata."""

from __future__ import annotations

import numpy as np
import pytest

from service import create_app
from service.config import Settings
from service.errors import Unprocessable
from service.jobs import JobService
from service.jobs.task import run_job
from service.store import ModelStore

SMALL = {"hidden_layers": [8], "epochs": 5, "batch_size": 16}


def data(rows: int = 90, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % classes
    return rng.normal(size=(rows, 4)) + y[:, None] * 2.0, y


@pytest.fixture
def svc(tmp_path):
    settings = Settings.from_env({"store": tmp_path, "heartbeat_interval": 0.2}, environ={})
    return JobService(settings, ModelStore(settings.store))


def train(svc: JobService, X, y, params: dict, names=("a", "b", "c", "d")) -> dict:
    job, _ = svc.submit("m", X, y, {**SMALL, **params},
                        feature_names=None if names is None else list(names))
    run_job(svc.settings, job["job_id"])
    return svc.get(job["job_id"])


def test_a_warm_started_version_records_its_parent_and_added_classes(svc):
    X, y = data(classes=2)
    first = train(svc, X, y, {})
    assert first["status"] == "succeeded", first["error"]
    svc.store.set_alias("m", "production", first["model_version"])
    X3, y3 = data(classes=3, seed=1)
    job = train(svc, X3, y3, {"warm_start_from": "production"})
    assert job["status"] == "succeeded", job["error"]
    assert job["params"]["warm_start_from"] == first["model_version"]  # resolved at submit
    meta = svc.store.meta("m", job["model_version"])
    assert meta["parent_version"] == first["model_version"]
    assert meta["classes_added"] == [2] and meta["classes"] == [0, 1, 2]
    assert "warm_start_from" not in meta["params"]
    assert "parent_version" not in svc.store.meta("m", first["model_version"])
    shown = create_app({"store": svc.settings.store}).test_client().get(
        f"/models/m/versions/{job['model_version']}").get_json()
    assert shown["parent_version"] == first["model_version"] and shown["classes_added"] == [2]
    card = create_app({"store": svc.settings.store}).test_client().get(
        f"/models/m/versions/{job['model_version']}/card").get_data(as_text=True)
    assert f"Lineage: warm-started from version {first['model_version']}; classes added: 2" \
        in card


@pytest.mark.parametrize("params, names, labels, field, words", [
    ({"hidden_layers": [16]}, "abcd", None, "params.hidden_layers", "[16]"),
    ({"activation": "tanh"}, "abcd", None, "params.activation", "tanh"),
    ({}, "abce", None, "data.features", "['e']"),
    ({}, None, ["x", "y", "z"], "data.labels", "strings"),
    ({"max_categories": 4}, "abcd", None, "params.max_categories", "encoding"),
])
def test_a_request_that_does_not_fit_the_parent_is_422_naming_it(svc, params, names, labels,
                                                                 field, words):
    X, y = data()
    assert train(svc, X, y, {})["status"] == "succeeded"
    if labels is not None:
        y = np.array(labels)[y]
    with pytest.raises(Unprocessable) as err:
        svc.submit("m", X, y, {**SMALL, **params, "warm_start_from": 1},
                   feature_names=None if names is None else list(names))
    assert list(err.value.errors) == [field], err.value.errors
    assert words in err.value.errors[field][0]


@pytest.mark.parametrize("ref, words", [(7, "version 7"), ("nope", "alias 'nope'"),
                                        (True, "version number"), ("../x", "alias")])
def test_an_unknown_or_malformed_parent_is_422(svc, ref, words):
    X, y = data()
    assert train(svc, X, y, {})["status"] == "succeeded"
    with pytest.raises(Unprocessable) as err:
        svc.submit("m", X, y, {**SMALL, "warm_start_from": ref})
    assert words in err.value.errors["params.warm_start_from"][0]


def test_a_parent_deleted_before_the_job_runs_fails_it_invalid_data(svc):
    X, y = data()
    assert train(svc, X, y, {})["status"] == "succeeded"
    job, _ = svc.submit("m", X, y, {**SMALL, "warm_start_from": 1})
    svc.store.delete_version("m", 1)
    run_job(svc.settings, job["job_id"])
    job = svc.get(job["job_id"])
    assert job["status"] == "failed" and job["error"]["type"] == "invalid_data"
    assert "version 1" in job["error"]["message"]


def test_post_train_takes_warm_start_from(client, tmp_path):
    X, y = data()
    body = {"model": "m", "params": SMALL, "data": {"features": X.tolist(),
                                                     "labels": y.tolist()}}
    assert client.post("/train", json=body).status_code == 202
    resp = client.post("/train", json={**body, "params": {**SMALL, "warm_start_from": 1}})
    assert resp.status_code == 422  # no version yet: the first job has not run
    assert "params.warm_start_from" in resp.get_json()["errors"]


def test_tabular_records_must_fit_the_parents_input_schema(svc):
    rng = np.random.default_rng(0)
    records = [{"colour": str(rng.choice(["red", "blue"])), "size": float(rng.normal())}
               for _ in range(80)]
    y = [r["colour"] for r in records]
    job, _ = svc.submit("t", records, y, SMALL)
    run_job(svc.settings, job["job_id"])
    with pytest.raises(Unprocessable) as err:
        svc.submit("t", [{**r, "weight": 2} for r in records], y,
                   {**SMALL, "warm_start_from": "latest"})
    assert "weight" in err.value.errors["data.features"][0]
    job, _ = svc.submit("t", records, y, {**SMALL, "warm_start_from": "latest"})
    run_job(svc.settings, job["job_id"])
    job = svc.get(job["job_id"])
    assert job["status"] == "succeeded", job["error"]
    assert svc.store.meta("t", 2)["input_schema"] == svc.store.meta("t", 1)["input_schema"]
