"""Metrics of a model version on a labelled data set sent with the request (transport-free).

The data set comes in any form ``POST /train`` takes — rows with labels (and optionally their
columns' names), records with labels or a ``label_column``, a CSV with a label column — and is
read by the prediction paths (``service.handlers.predict``), so rows that ``/predict`` answers
are scored alike. Nothing is written. A label that is not among the version's classes is a 422
naming it: the model cannot be scored on a class it does not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from models.metrics import UnknownLabels, evaluate
from models.preprocessing import as_labels
from service.arrays import plain_cell
from service.config import Settings
from service.errors import field_error
from service.handlers import tabular
from service.handlers.predict import Prediction, predict, predict_csv, predict_table, read_rows
from service.model_cache import LoadedModel, ModelCache

_INT_LABEL = re.compile(r"^-?\d{1,18}$")


def evaluate_data(cache: ModelCache, name: str, ref: int | str | None, data: Mapping[str, Any],
                  settings: Settings) -> dict[str, Any]:
    """METRICS (``models.metrics.evaluate``) of version ``ref`` of ``name`` on ``data``, with
    ``model`` and ``version``.

    ``data`` is a training request's ``data`` object: ``features`` (rows, with optional
    ``feature_names``) or ``records``, and ``labels`` or (with records) ``label_column``.
    """
    loaded = cache.get(name, ref)
    if data.get("records") is not None:
        field = "data.records"
        instances, labels = _records(data["records"], data.get("labels"),
                                     data.get("label_column"))
    else:
        field = "data.features"
        instances, labels = data["features"], data.get("labels")
        if data.get("feature_names") is not None:
            instances = _named_rows(loaded, instances, data["feature_names"])
    y = _labels(labels, instances)
    if tabular.is_tabular(loaded):
        prediction = predict_table(loaded, *tabular.from_instances(instances, loaded, field,
                                                                   settings))
    else:
        prediction = predict(loaded, read_rows(instances, settings, field), field)
    return _scored(prediction, y, "data.labels")


def evaluate_csv(cache: ModelCache, name: str, ref: int | str | None, header: list[str],
                 rows: list[list[str]], labels: list[str], label_column: str | None,
                 settings: Settings) -> dict[str, Any]:
    """METRICS of a version on CSV rows under ``header`` (the label column taken out, as
    ``service.api.body.parse_csv`` does); labels read as the version's classes are (integers
    when its classes are)."""
    loaded = cache.get(name, ref)
    prediction = predict_csv(loaded, header, rows, settings)
    ints = loaded.model.classes_.dtype.kind in "iu"
    y = [int(v) if ints and _INT_LABEL.match(v) else v for v in labels]
    return _scored(prediction, y, "csv label column" if label_column is None
                   else f"csv column {label_column!r}")


def _scored(prediction: Prediction, labels: Any, field: str) -> dict[str, Any]:
    try:
        metrics = evaluate(labels, prediction.probabilities, prediction.classes)
    except UnknownLabels as exc:
        raise field_error(field, str(exc)) from None
    return {"model": prediction.model, "version": prediction.version, **metrics}


def _labels(labels: Any, instances: Any) -> Any:
    try:
        y = as_labels(labels)
    except ValueError as exc:
        raise field_error("data.labels", str(exc)) from None
    rows = len(instances) if isinstance(instances, list) else None
    if rows is not None and len(y) != rows:
        raise field_error("data.labels", f"has {len(y)} labels for {rows} rows")
    return y


def _records(records: Any, labels: Any, label_column: str | None) -> tuple[list[Any], Any]:
    """Records and their labels; with ``label_column``, the labels taken out of the records."""
    if not isinstance(records, list):
        raise field_error("data.records", "must be a list of objects")
    if label_column is None:
        return records, labels
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise field_error(f"data.records[{i}]", "must be an object")
    gaps = [i for i, r in enumerate(records) if r.get(label_column) is None]
    if gaps:
        shown = ", ".join(map(str, gaps[:10])) + (", ..." if len(gaps) > 10 else "")
        raise field_error("data.records", f"records {shown} have no {label_column!r} label")
    return ([{k: v for k, v in r.items() if k != label_column} for r in records],
            [r[label_column] for r in records])


def _named_rows(loaded: LoadedModel, rows: Any, names: list[str]) -> list[Any]:
    """Rows whose columns are named: records for a tabular version; for a numeric one with
    feature names, the rows in the version's column order."""
    if not isinstance(rows, list):
        raise field_error("data.features", "must be a list of rows")
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(names):
            raise field_error(f"data.features[{i}]", f"must be a row of {len(names)} cells, "
                                                     "one per data.feature_names")
    if len(set(names)) != len(names):
        raise field_error("data.feature_names", "names a column twice")
    if tabular.is_tabular(loaded):
        return [{n: plain_cell(c) for n, c in zip(names, row, strict=True)} for row in rows]
    wanted = loaded.model.feature_names_
    if wanted is None:
        return rows
    missing = [n for n in wanted if n not in names]
    if missing:
        raise field_error("data.feature_names", f"lacks {missing[0]!r}; the model's features "
                                                f"are {wanted}")
    order = [names.index(n) for n in wanted]
    return [[row[j] for j in order] for row in rows]
