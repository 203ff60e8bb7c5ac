"""Tabular data end to end: a mixed CSV trained by a real worker, predicted with records."""

from __future__ import annotations

import numpy as np
import pytest
import requests

from tests.server import start_server, wait_job
from tests.test_engine_tabular_fit import mixed_data
from tests.test_tabular_service import _csv

pytestmark = pytest.mark.e2e


def test_a_mixed_csv_trains_and_serves_records(tmp_path):
    records, labels = mixed_data(300, seed=5)
    for r, label in zip(records, labels, strict=True):
        r["label"] = str(label)
    names = ["colour", "size", "flag", "level", "id", "const", "label"]
    srv = start_server(tmp_path / "store")
    try:
        resp = requests.post(f"{srv.url}/train?model=penguins&label_column=label",
                             data=_csv(names, records), timeout=30,
                             headers={"Content-Type": "text/csv"})
        assert resp.status_code == 202, resp.text
        job = wait_job(srv.url, resp.json()["job_id"])
        assert job["status"] == "succeeded", job
        meta = requests.get(f"{srv.url}/models/penguins/versions/1", timeout=10).json()
        kinds = {c["name"]: c["type"] for c in meta["input_schema"]}
        assert kinds == {"colour": "categorical", "size": "numeric", "flag": "boolean",
                         "level": "categorical", "id": "categorical", "const": "numeric"}
        sample = [{k: v for k, v in r.items() if k != "label"} for r in records[:20]]
        by_records = requests.post(f"{srv.url}/predict", timeout=10, json={
            "model": "penguins", "instances": sample}).json()
        by_csv = requests.post(f"{srv.url}/predict?model=penguins", timeout=10,
                               data=_csv(names[:-1], sample),
                               headers={"Content-Type": "text/csv"}).json()
        np.testing.assert_allclose(by_records["probabilities"], by_csv["probabilities"],
                                   rtol=1e-6)
        accuracy = np.mean([p == r["label"] for p, r in zip(by_records["labels"], records[:20],
                                                          strict=True)])
        assert accuracy > 0.5
    finally:
        assert srv.stop() == 0, srv.output()
