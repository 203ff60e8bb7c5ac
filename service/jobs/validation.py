"""Domain checks of a training request, done before anything is queued.

Each failure is a 422 naming its field (``params.<name>``, ``data.features``, ``data.labels``,
``data.feature_names``). They mirror what ``MLPClassifier.fit`` would reject, so a job that is
accepted does not fail on its input later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models import MLPClassifier
from models.preprocessing import as_labels
from service.arrays import as_matrix
from service.config import Settings
from service.errors import Unprocessable, field_error
from service.jobs.datasets import fingerprint


@dataclass(frozen=True)
class TrainingData:
    X: np.ndarray  # (rows, features) float64, finite in float32
    y: np.ndarray  # (rows,) int64 or str
    feature_names: list[str] | None
    sha256: str

    @property
    def summary(self) -> dict[str, Any]:
        rows, features = self.X.shape
        return {"rows": rows, "features": features, "classes": int(np.unique(self.y).size),
                "sha256": self.sha256}


def check_params(params: Any) -> dict[str, Any]:
    """The full, normalised parameter dict (``get_params()``) for a partial one, else 422."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise field_error("params", "must be an object of hyper-parameters")
    ranges = MLPClassifier.PARAM_RANGES
    unknown = sorted(set(params) - set(ranges), key=str)
    if unknown:
        raise Unprocessable(f"params.{unknown[0]}: unknown parameter",
                            errors={f"params.{n}": ["unknown parameter"] for n in unknown})
    for name, value in params.items():  # e.g. "step" constructs but cannot be trained
        choices = ranges[name].get("choices")
        if choices is not None and value not in choices:
            raise field_error(f"params.{name}", f"must be one of {choices}, got {value!r}")
    try:
        return MLPClassifier(**params).get_params()
    except (TypeError, ValueError) as exc:
        raise field_error(f"params.{_culprit(params)}", str(exc)) from None


def _culprit(params: dict[str, Any]) -> str:
    """The first parameter that the constructor rejects on its own."""
    for name, value in params.items():
        try:
            MLPClassifier(**{name: value})
        except (TypeError, ValueError):
            return name
    return next(iter(params), "params")


def check_work(params: dict[str, Any], rows: int, settings: Settings) -> None:
    work = params["epochs"] * rows
    if work > settings.max_train_work:
        raise field_error("params.epochs", f"epochs × rows = {params['epochs']} × {rows} = "
                                           f"{work} exceeds the limit of "
                                           f"{settings.max_train_work}; use fewer epochs or rows")


def check_data(X: Any, y: Any, feature_names: Any, settings: Settings) -> TrainingData:
    """Features as float64 whose cells are finite in float32 (rows × features), labels as int64
    or str, names as strs.

    The one check of training data, whichever way it arrived (JSON rows, a CSV, arrays).
    """
    X = _features(X, settings)
    rows, features = X.shape
    labels = _labels(y, rows)
    n_classes = np.unique(labels).size
    if n_classes < 2:
        raise field_error("data.labels", f"has {n_classes} distinct class; need at least 2")
    if feature_names is not None:
        names = list(feature_names) if isinstance(feature_names, list | tuple) else None
        if names is None or len(names) != features or not all(isinstance(s, str) for s in names):
            raise field_error("data.feature_names", f"must be {features} strings, one per column")
        feature_names = names
    return TrainingData(X, labels, feature_names, fingerprint(X, labels))


def _features(X: Any, settings: Settings) -> np.ndarray:
    limits = {"max_rows": settings.max_rows, "max_features": settings.max_features,
              "dtype": np.float64}
    if isinstance(X, list):  # decoded JSON: errors name the offending row or cell
        return as_matrix(X, "data.features", **limits)
    try:
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            X = X.astype(np.float64)
    except (TypeError, ValueError):
        raise field_error("data.features", "must be rows of equally many numbers") from None
    if X.ndim != 2 or 0 in X.shape:
        raise field_error("data.features", f"must be a non-empty 2-D array (rows × features), "
                                           f"got shape {list(X.shape)}")
    rows, features = X.shape
    if rows > settings.max_rows:
        raise field_error("data.features", f"has {rows} rows; at most {settings.max_rows}")
    if features > settings.max_features:
        raise field_error("data.features", f"has {features} features; at most "
                                           f"{settings.max_features}")
    # Kept in float64, so the model centres each column before anything is rounded to float32.
    X = np.ascontiguousarray(X, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(X.astype(np.float32)).all():
            raise field_error("data.features", "contains NaN, infinity or values beyond float32")
    return X


def _labels(y: Any, rows: int) -> np.ndarray:
    try:
        labels = as_labels(y)
    except ValueError as exc:
        raise field_error("data.labels", str(exc)) from None
    if len(labels) != rows:
        raise field_error("data.labels", f"has {len(labels)} labels for {rows} rows of features")
    if labels.dtype.kind == "U" and (labels == "").any():
        raise field_error("data.labels", "must not hold empty strings")
    return labels
