"""Domain checks of a training request, done before anything is queued.

Each failure is a 422 naming its field (``params.<name>``, ``data.features``, ``data.labels``,
``data.feature_names``, ``data.records[i].<column>``). They mirror what ``MLPClassifier.fit``
would reject, so a job that is accepted does not fail on its input later.

Training data is numeric (a matrix, as it always was) or tabular: records, rows or a CSV holding
strings, booleans or missing cells, or any data with ``params.feature_types``. Tabular data is
kept as a ``Table`` and encoded by the model itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from models import MLPClassifier
from models.params import JOB_DEFAULTS, JOB_PARAM_RANGES, TABULAR_PARAM_RANGES, check_param
from models.preprocessing import as_labels
from models.tabular import KINDS, MISSING_TOKENS, CellError, Table, read_column
from service.arrays import JsonBoolean, as_matrix, plain_cell
from service.config import Settings
from service.errors import ServiceError, Unprocessable, field_error
from service.jobs.datasets import fingerprint, table_fingerprint

#: ``params`` that say how tabular data is encoded (``MLPClassifier.fit``'s keywords).
ENCODING_PARAMS = ("feature_types", *TABULAR_PARAM_RANGES)
#: Characters of a training request's ``description`` (the model card's intended use).
MAX_DESCRIPTION = 4000


@dataclass(frozen=True)
class TrainingData:
    X: np.ndarray | Table  # (rows, features) float64 finite in float32, or tabular cells
    y: np.ndarray  # (rows,) int64 or str
    feature_names: list[str] | None
    sha256: str

    @property
    def rows(self) -> int:
        return self.X.n_rows if isinstance(self.X, Table) else int(self.X.shape[0])

    @property
    def summary(self) -> dict[str, Any]:
        features = len(self.X.names) if isinstance(self.X, Table) else int(self.X.shape[1])
        return {"rows": self.rows, "features": features,
                "classes": int(np.unique(self.y).size), "sha256": self.sha256}


def check_description(description: Any) -> str | None:
    """A request's ``description``: None, or text of 1 to ``MAX_DESCRIPTION`` characters."""
    if description is None:
        return None
    if not isinstance(description, str) or not description.strip():
        raise field_error("description", "must be non-empty text")
    if len(description) > MAX_DESCRIPTION:
        raise field_error("description", f"has {len(description)} characters; at most "
                                         f"{MAX_DESCRIPTION}")
    return description


def split_params(params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` as (network hyper-parameters, tabular encoding options), both checked; the
    first also holds the job's own options (``JOB_PARAM_RANGES``, defaults filled in), which
    the training job takes out before building the model."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise field_error("params", "must be an object of hyper-parameters")
    encoding = {k: params[k] for k in ENCODING_PARAMS if k in params}
    for name in ("max_categories", "min_frequency"):
        if name in encoding:
            try:
                encoding[name] = check_param(name, encoding[name])
            except ValueError as exc:
                raise field_error(f"params.{name}", str(exc)) from None
    types = encoding.get("feature_types")
    if types is not None:
        if not isinstance(types, dict):
            raise field_error("params.feature_types", "must be an object: column name → "
                                                      f"one of {list(KINDS)}")
        for name, kind in types.items():
            if kind not in KINDS:
                raise field_error(f"params.feature_types.{name}", f"{kind!r} is not a type; "
                                                                  f"use one of {list(KINDS)}")
    job = {**JOB_DEFAULTS}
    for name in JOB_PARAM_RANGES:
        if name in params:
            try:
                job[name] = check_param(name, params[name])
            except ValueError as exc:
                raise field_error(f"params.{name}", str(exc)) from None
    rest = {k: v for k, v in params.items() if k not in ENCODING_PARAMS and k not in job}
    return {**check_params(rest), **job}, encoding


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


def check_data(X: Any, y: Any, feature_names: Any, settings: Settings,
               encoding: dict[str, Any] | None = None,
               label_column: str | None = None) -> TrainingData:
    """Tabular data as a ``Table`` (see ``check_table_data``); otherwise features as float64
    whose cells are finite in float32 (rows × features), labels as int64 or str, names as strs.

    The one check of training data, whichever way it arrived (JSON rows or records, a CSV,
    arrays).
    """
    tabular = check_table_data(X, y, feature_names, settings, encoding or {}, label_column)
    if tabular is not None:
        return tabular
    if isinstance(X, Table):  # a CSV of numbers only
        X = np.column_stack([np.asarray(c, dtype=np.float64) for c in X.columns])
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
    if isinstance(X, list):  # decoded JSON: errors name the offending row or cell
        return as_matrix(X, "data.features", max_rows=settings.max_rows,
                         max_features=settings.max_features, dtype=np.float64)
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


def check_table_data(X: Any, y: Any, feature_names: Any, settings: Settings,
                     encoding: dict[str, Any], label_column: str | None = None
                     ) -> TrainingData | None:
    """Tabular training data as ``TrainingData`` with a ``Table``; None when ``X`` is plain
    numeric rows (and no ``feature_types``), for ``check_data``.

    ``X`` is a list of records (objects; labels in ``y`` or in each record's
    ``label_column``), rows of cells with ``feature_names``, or a ``Table`` (a CSV's text).
    """
    if isinstance(X, list) and X and isinstance(X[0], dict):
        field = "data.records"
        table, y = _records(X, y, label_column, settings)
    else:
        field = "data.features"
        if label_column is not None:
            raise field_error("data.label_column", "goes with data.records; rows take "
                                                   "data.labels")
        if not isinstance(X, Table):
            # Rows of cells are tabular only with their columns' names; without, a cell that
            # is not a number is refused by name, as it always was.
            tabular = isinstance(X, list) and _has_cells(X) and feature_names is not None
            if not tabular and "feature_types" not in encoding:
                return None
            if feature_names is None:
                raise field_error("data.feature_names", "is required with feature_types: "
                                                        "tabular data names its columns")
            if not isinstance(feature_names, list) or not all(
                    isinstance(n, str) for n in feature_names):
                raise field_error("data.feature_names", "must be a list of strings")
            X = _table(lambda: Table.from_rows([[plain_cell(c) for c in row] for row in X],
                                               feature_names), field)
        elif "feature_types" not in encoding and _numeric_text(X):
            return None
        table = X
    _check_size(table, field, settings)
    labels = _labels(y, table.n_rows)
    if np.unique(labels).size < 2:
        raise field_error("data.labels", "has fewer than 2 distinct classes")
    for name in encoding.get("feature_types") or {}:
        if name not in table.names:
            raise field_error(f"params.feature_types.{name}", "is not a column of the data; "
                                                              f"columns are {table.names[:8]}")
    types = encoding.get("feature_types") or {}
    for name, cells in zip(table.names, table.columns, strict=True):  # as fit will read them
        try:
            read_column(cells, name, table.text, types.get(name))
        except CellError as exc:
            raise _cell_error(exc, field) from None
    return TrainingData(table, labels, table.names, table_fingerprint(table, labels))


def _records(records: list[Any], y: Any, label_column: str | None,
             settings: Settings) -> tuple[Table, Any]:
    if len(records) > settings.max_rows:
        raise field_error("data.records", f"has {len(records)} records; at most "
                                          f"{settings.max_rows}")
    table = _table(lambda: Table.from_records(records), "data.records")
    if label_column is None:
        if y is None:
            raise field_error("data.labels", "is required (or data.label_column, naming the "
                                             "label's key in each record)")
        return table, y
    if y is not None:
        raise field_error("data.label_column", "give data.labels or data.label_column, not "
                                               "both")
    if label_column not in table.names:
        raise field_error("data.label_column", f"no record has the key {label_column!r}")
    labels = list(table.column(label_column))
    gaps = [i for i, v in enumerate(labels) if v is None]
    if gaps:
        shown = ", ".join(map(str, gaps[:10])) + (", ..." if len(gaps) > 10 else "")
        raise field_error("data.records", f"records {shown} have no {label_column!r} label")
    at = table.names.index(label_column)
    rest = Table(table.names[:at] + table.names[at + 1:], table.columns[:at] +
                 table.columns[at + 1:])
    return rest, labels


def _check_size(table: Table, field: str, settings: Settings) -> None:
    if table.n_rows == 0 or not table.names:
        raise field_error(field, "must hold at least one row and one column")
    if table.n_rows > settings.max_rows:
        raise field_error(field, f"has {table.n_rows} rows; at most {settings.max_rows}")
    if len(table.names) > settings.max_features:
        raise field_error(field, f"has {len(table.names)} columns; at most "
                                 f"{settings.max_features}")
    if len(set(table.names)) != len(table.names):
        raise field_error("data.feature_names", "names a column twice")


def _has_cells(rows: list[Any]) -> bool:
    """Whether JSON rows hold anything but numbers: text, booleans or nulls."""
    return any(isinstance(row, list) and any(
        c is None or isinstance(c, str | JsonBoolean) for c in row) for row in rows)


def _numeric_text(table: Table) -> bool:
    """Whether every cell of a text table (a CSV) is a number: the data is then numeric."""
    try:
        for column in table.columns:
            np.asarray(column, dtype=np.float64)
    except ValueError:
        return False
    return not any(MISSING_TOKENS.intersection(column) for column in table.columns)


def _table(build: Callable[[], Table], field: str) -> Table:
    try:
        return build()
    except CellError as exc:
        raise _cell_error(exc, field) from None


def _cell_error(exc: CellError, field: str) -> ServiceError:
    path = field if exc.row is None else f"{field}[{exc.row}]"
    if exc.column is not None:
        path += f".{exc.column}"
    return field_error(path, str(exc))
