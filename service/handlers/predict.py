"""The one prediction handler: resolve a model version, validate rows, return probabilities."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from service import metrics
from service.arrays import as_matrix, check_matrix, check_width
from service.config import Settings
from service.errors import field_error, invalid_fields
from service.model_cache import LoadedModel
from service.names import validate_model_name


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


# marshmallow's own wording, so /predict words its errors like the schema-checked routes.
_MISSING, _UNKNOWN, _NOT_STRING = ("Missing data for required field.", "Unknown field.",
                                   "Not a valid string.")
_REQUIRED, _OPTIONAL = ("model", "instances"), ("version",)


def read_request(doc: dict[str, Any]) -> tuple[str, int | str | None, Any]:
    """``(model, version reference, instances)`` of a ``POST /predict`` body.

    The body has the shape ``PredictRequestSchema`` documents; it is read by hand because a
    marshmallow ``load`` cost as much per request as the 1-row prediction itself. The rows are
    checked by :func:`predict`.
    """
    errors = {key: [_UNKNOWN] for key in doc if key not in _REQUIRED and key not in _OPTIONAL}
    errors.update((key, [_MISSING]) for key in _REQUIRED if key not in doc)
    if not errors and not isinstance(doc["model"], str):
        errors["model"] = [_NOT_STRING]
    if errors:
        raise invalid_fields(errors)
    return validate_model_name(doc["model"]), parse_ref(doc.get("version")), doc["instances"]


def parse_ref(value: Any, field: str = "version") -> int | str | None:
    """A version reference from a request: a positive int, a digit string, an alias or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise field_error(field, "must be a version number, 'latest' or an alias name")
    if isinstance(value, int) and value < 1:
        raise field_error(field, "version numbers start at 1")
    if isinstance(value, str) and not value:
        raise field_error(field, "must not be empty")
    return value


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
    limits = {"max_rows": settings.max_rows, "max_features": settings.max_features}
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
