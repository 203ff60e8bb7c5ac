"""The one prediction handler: resolve a model version, validate rows, return probabilities."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from service import metrics
from service.arrays import as_matrix, check_matrix, check_width
from service.config import Settings
from service.errors import field_error
from service.model_cache import LoadedModel


@dataclass(slots=True)
class Prediction:
    """Probabilities of one request.

    ``probabilities`` has shape (n_rows, n_classes), columns in the order of ``classes``;
    ``labels`` holds the most probable class of each row. ``classes`` is the loaded model's own
    list (``LoadedModel.classes``): read it, don't change it.
    """

    model: str
    version: int
    classes: list[Any]
    probabilities: np.ndarray
    labels: list[Any]
    loaded: LoadedModel


def read_rows(rows: list | np.ndarray, settings: Settings, field: str = "instances") -> np.ndarray:
    """Rows of a request (decoded JSON or an array) as a checked float32 matrix.

    Parameters
    ----------
    rows : list of rows (decoded JSON) or ndarray of shape (n_rows, n_features)
    field : the request field the rows came from, named in validation errors.

    Returns
    -------
    ndarray of shape (n_rows, n_features), float32, finite.
    """
    # float64, so the model centres the rows before anything is rounded to its float32
    limits = {"max_rows": settings.max_rows, "max_features": settings.max_features,
              "dtype": np.float64}
    if isinstance(rows, np.ndarray):
        return check_matrix(rows, field, **limits)
    return as_matrix(rows, field, **limits)


def predict(loaded: LoadedModel, matrix: np.ndarray, field: str = "instances") -> Prediction:
    """Class probabilities of a resolved model version for rows checked by :func:`read_rows`.

    Parameters
    ----------
    loaded : the version to predict with (``ModelCache.get``: once per request).
    matrix : ndarray of shape (n_rows, n_features), float32.
    field : the request field the rows came from, named in validation errors.
    """
    check_width(matrix, field, loaded.model.n_features_in_, loaded.name)
    proba = loaded.model.predict_proba(matrix, check_input=False)  # checked by read_rows
    # Probabilities lie in [0, 1], so their sum of squares (one BLAS call) is finite unless a
    # row's are not: inputs near float32's limit can overflow inside the network.
    if not math.isfinite(np.vdot(proba, proba)):
        row = int(np.argwhere(~np.isfinite(proba))[0][0])
        raise field_error(f"{field}[{row}]", "is too large for this model: its probabilities "
                                             "are not finite (the network overflowed float32)")
    classes = loaded.classes
    labels = [classes[i] for i in proba.argmax(axis=1).tolist()]
    metrics.record_prediction(loaded.name, loaded.version, matrix.shape[0])
    return Prediction(model=loaded.name, version=loaded.version, classes=classes,
                      probabilities=proba, labels=labels, loaded=loaded)
