"""The one prediction handler: resolve a model version, validate rows, return probabilities."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.tabular import Table, is_number
from service import metrics, routing
from service.arrays import Limits, as_matrix, check_matrix, check_width
from service.config import Settings
from service.errors import ServiceError, Unprocessable, field_error
from service.handlers import tabular
from service.model_cache import LoadedModel, ModelCache


@dataclass(slots=True)
class Prediction:
    """Probabilities of one request.

    ``probabilities`` has shape (n_rows, n_classes), columns in the order of ``classes``;
    ``labels`` holds the most probable class of each row. ``classes`` is the loaded model's own
    list (``LoadedModel.classes``): read it, don't change it. ``warnings`` is a tabular model's
    coercion report (cells imputed, categories never seen in training), by row.
    """

    model: str
    version: int
    classes: list[Any]
    probabilities: np.ndarray
    labels: list[Any]
    loaded: LoadedModel
    warnings: list[dict[str, Any]] = field(default_factory=list)


def read_rows(rows: object, settings: Settings, field: str = "instances") -> np.ndarray:
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
    limits = Limits(max_rows=settings.max_rows, max_features=settings.max_features)
    if isinstance(rows, np.ndarray):
        return check_matrix(rows, field, **limits, dtype=np.float64)
    return as_matrix(rows, field, **limits, dtype=np.float64)


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
    return _answer(loaded, proba, field, [])


def predict_table(loaded: LoadedModel, table: Table, locate: tabular.Locate) -> Prediction:
    """Class probabilities of a tabular version for a request's rows as a bound ``Table``
    (``service.handlers.tabular``), with the coercion report."""
    encoded, warnings = tabular.encode(loaded, table, locate)
    return _answer(loaded, loaded.model.predict_proba_encoded(encoded), locate(None, None),
                   warnings)


def predict_instances(cache: ModelCache, name: str, ref: int | str | None, instances: object,
                      settings: Settings, field: str = "instances") -> Prediction:
    """A request's ``instances``: rows of numbers for a numeric version; rows or records of
    cells for a tabular one.

    Rows are checked as numbers before the store is asked, so a malformed body is a 422
    whatever it names; records, and rows that are not all numbers, need the version's columns.
    """
    matrix, loaded = None, None
    if not (isinstance(instances, list) and instances and isinstance(instances[0], dict)):
        try:
            matrix = read_rows(instances, settings, field)
        except Unprocessable as not_numbers:
            try:
                loaded = cache.get(name, ref)
            except ServiceError:
                raise not_numbers from None
            if not tabular.is_tabular(loaded):
                raise
    if loaded is None:
        loaded = cache.get(name, ref)
    if tabular.is_tabular(loaded):
        return predict_table(loaded, *tabular.from_instances(instances, loaded, field, settings))
    return predict(loaded, read_rows(instances, settings, field) if matrix is None else matrix,
                   field)


def predict_csv(loaded: LoadedModel, table: Table, settings: Settings) -> Prediction:
    """A CSV's text ``table``: a tabular version binds the columns by name; a numeric one
    takes its features in its own order (by name when it has names), every cell a number."""
    if tabular.is_tabular(loaded):
        return predict_table(loaded, *tabular.from_csv(table, loaded, settings))
    names = loaded.model.feature_names_
    columns = table.columns
    if names is not None:
        missing = [n for n in names if n not in table.names]
        if missing:
            raise field_error(f"csv column {missing[0]!r}", "is missing; the model's features "
                                                           f"are {names}")
        columns = [table.column(n) for n in names]
    try:
        matrix = np.array(columns, dtype=np.float64).T
    except ValueError:
        line, cell = min((i, c) for col in columns for i, c in enumerate(col, start=2)
                         if not is_number(c))
        raise field_error(f"csv line {line}", f"{cell!r:.40} is not a number") from None
    return predict(loaded, read_rows(matrix, settings, "csv"), "csv")


def _answer(loaded: LoadedModel, proba: np.ndarray, field: str,
            warnings: list[dict[str, Any]]) -> Prediction:
    # Probabilities lie in [0, 1], so their sum of squares (one BLAS call) is finite unless a
    # row's are not: inputs near float32's limit can overflow inside the network.
    if not math.isfinite(np.vdot(proba, proba)):
        row = int(np.argwhere(~np.isfinite(proba))[0][0])
        raise field_error(f"{field}[{row}]", "is too large for this model: its probabilities "
                                             "are not finite (the network overflowed float32)")
    classes = loaded.classes
    labels = [classes[i] for i in proba.argmax(axis=1).tolist()]
    metrics.record_prediction(loaded.name, loaded.version, proba.shape[0])
    routing.mark_served(loaded.name, loaded.version)
    return Prediction(model=loaded.name, version=loaded.version, classes=classes,
                      probabilities=proba, labels=labels, loaded=loaded, warnings=warnings)
