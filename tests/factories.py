"""Real trained models published straight into a store, as a training job would publish them."""

from __future__ import annotations

import io

import numpy as np

from models import MLPClassifier
from service.jobs.datasets import fingerprint
from service.jobs.task import version_meta
from service.store import ModelStore


def publish_trained(store: ModelStore, name: str, X: np.ndarray, y: np.ndarray,
                    **params: object) -> tuple[int, MLPClassifier]:
    """Train in this process (5 epochs, seed 0 unless given) and publish; (version, model)."""
    clf = MLPClassifier(**{"epochs": 5, "seed": 0, **params}).fit(X, y)
    buf = io.BytesIO()
    clf.save(buf)
    dataset = {"rows": len(X), "features": X.shape[1], "sha256": fingerprint(X, y)}
    meta = version_meta(clf, clf.history_, dataset, None, 0.0)
    return store.publish(name, buf.getvalue(), meta), clf


def offset_column(offset: float, n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes told apart by one column of spread 0.01 around ``offset``, plus a column of
    noise. At 1e6 float32's grid is 0.0625 wide: the column survives only if kept in float64."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    signal = offset + 0.01 * rng.standard_normal(n) + 0.02 * (2 * y - 1)
    return np.column_stack([signal, rng.standard_normal(n)]), y
