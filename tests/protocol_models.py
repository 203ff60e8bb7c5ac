"""Real model versions for the protocol tests, trained on iris without a worker (the ``store``
and ``make_client`` fixtures in conftest.py publish them).

``iris``: string classes, trained from named columns (``FEATURES``); v1 and v2 differ (other
seeds), alias ``prod`` → v1. ``iris-plain``: integer classes, no feature names, one version.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris

from models import MLPClassifier
from service.store import ModelStore

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SPECIES = ["setosa", "versicolor", "virginica"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]


@functools.cache
def _trained(seed: int, named: bool) -> tuple[bytes, dict]:
    """(artifact, meta) of a small MLP; trained once per test session."""
    x, y = load_iris(return_X_y=True)
    labels = np.array(SPECIES)[y] if named else y
    clf = MLPClassifier(hidden_layers=(16,), epochs=40, learning_rate=0.01, seed=seed)
    clf.fit(x, labels, feature_names=FEATURES if named else None)
    buf = io.BytesIO()
    clf.save(buf)
    meta = {"n_features": 4, "classes": clf.classes_.tolist(), "params": clf.get_params()}
    if named:
        meta["feature_names"] = FEATURES
    return buf.getvalue(), meta


def publish_models(root: Path) -> ModelStore:
    store = ModelStore(root)
    for seed in (0, 1):
        store.publish("iris", *_trained(seed, True))
    store.set_alias("iris", "prod", 1)
    store.publish("iris-plain", *_trained(2, False))
    return store


def error_of(resp, status: int) -> str:
    """The message of a protocol error: status, application/json and exactly ``{"error"}``."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    return body["error"]
