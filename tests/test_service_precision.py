"""Rows reach the model in float64: a column like 1e6 + noise keeps its noise through the service.

float32's grid at 1e6 is 0.0625 wide, so a feature whose spread is 0.01 there is a constant
once cast to float32; the model must centre it before anything is rounded.
"""

from __future__ import annotations

import json

import numpy as np

from service.jobs.datasets import dataset_path, load_dataset
from service.runtime import get_runtime
from tests.factories import offset_column, publish_trained


def _predict_accuracy(client, model: str, X: np.ndarray, y: np.ndarray) -> float:
    body = json.dumps({"model": model, "instances": X.tolist()})
    resp = client.post("/predict", data=body, content_type="application/json")
    assert resp.status_code == 200, resp.get_json()
    return float(np.mean(np.asarray(resp.get_json()["labels"]) == y))


def test_served_rows_keep_the_accuracy_of_the_column_shifted_to_0(app, client):
    accuracies = []
    with app.app_context():
        store = get_runtime().store
    for offset, name in ((0.0, "at0"), (1e6, "at1e6")):
        X, y = offset_column(offset)
        publish_trained(store, name, X[:300], y[:300], hidden_layers=[8], epochs=30)
        accuracies.append(_predict_accuracy(client, name, X[300:], y[300:]))
    assert accuracies[0] > 0.9
    assert abs(accuracies[1] - accuracies[0]) <= 0.02, accuracies


def test_training_data_keeps_the_digits_below_float32(client, settings_overrides):
    X, y = offset_column(1e6)
    resp = client.post("/train", json={"model": "m", "data": {"features": X.tolist(),
                                                              "labels": y.tolist()}})
    assert resp.status_code == 202, resp.get_json()
    stored = load_dataset(dataset_path(settings_overrides["store"],
                                       resp.get_json()["job_id"])).X
    np.testing.assert_array_equal(stored, X)
