"""Tabular requests (transport-free): every request shape becomes one ``Table`` bound to the
version's columns, and the model's own encoder reads it.

The shapes are rows (arrays in the model's column order), records (objects keyed by column
name), columns (``{name: cells}``: TF Serving's columnar ``inputs``, KServe's per-feature
tensors) and CSV text under a header row. None of them has cell rules of its own: the column
types learned in training decide how every cell reads, so the same rows get the same answer
whichever way they come. A cell that does not fit is a 422 naming it in the request's terms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from models.tabular import CellError, Table
from service import metrics
from service.arrays import plain_cell
from service.config import Settings
from service.errors import field_error
from service.model_cache import LoadedModel

#: ``locate(row, column) -> field path`` of a cell, in the shape the request used.
Locate = Callable[[int | None, str | None], str]


def is_tabular(loaded: LoadedModel) -> bool:
    """Whether the version was trained on tabular input (it encodes its own columns)."""
    return getattr(loaded.model, "encoder_", None) is not None


def columns_of(loaded: LoadedModel) -> list[str]:
    names = loaded.model.feature_names_
    assert names is not None  # a tabular model always names its columns
    return list(names)


def _check_rows(n: int, field: str, settings: Settings) -> None:
    if n == 0:
        raise field_error(field, "must hold at least one row")
    if n > settings.max_rows:
        raise field_error(field, f"has {n} rows; the limit is {settings.max_rows}")


def from_instances(value: object, loaded: LoadedModel, field: str,
                   settings: Settings) -> tuple[Table, Locate]:
    """Rows or records (not both in one request) as a ``Table`` of the model's columns."""
    names = columns_of(loaded)
    if not isinstance(value, list):
        raise field_error(field, "must be a list of rows (arrays) or records (objects)")
    _check_rows(len(value), field, settings)
    records = isinstance(value[0], dict)  # decoded JSON: an object is a dict
    for i, item in enumerate(value):
        if isinstance(item, dict) != records:
            raise field_error(f"{field}[{i}]", f"is {'an array' if records else 'an object'}, "
                              f"but {field}[0] is {'an object' if records else 'an array'}: "
                              "send rows or records, not both")
    if records:
        def locate(row: int | None, column: str | None) -> str:
            return f"{field}[{row}]" + (f".{column}" if column is not None else "")
        return _table(lambda: Table.from_records(value, names), locate), locate

    def at(row: int | None, column: str | None) -> str:
        where = f"{field}[{row}]" if row is not None else field
        return where + (f"[{names.index(column)}]" if column in names else "")
    rows = [[plain_cell(c) for c in row] if isinstance(row, list) else row for row in value]
    return _table(lambda: Table.from_rows(rows, names), at), at


def from_columns(columns: Mapping[str, Any], loaded: LoadedModel, field: str,
                 settings: Settings) -> tuple[Table, Locate]:
    """``{column: cells}`` (each cells list [N] or [N, 1]) as a ``Table``; absent columns are
    missing cells."""
    names = columns_of(loaded)

    def locate(row: int | None, column: str | None) -> str:
        where = f"{field}.{column}" if column is not None else field
        return where + (f"[{row}]" if row is not None else "")

    known = set(names)
    cells: dict[str, list[object]] = {}
    for name, column in columns.items():
        if name not in known:
            raise field_error(locate(None, name), "is not a feature of this model; its "
                              f"features are {names[:8]}{'...' if len(names) > 8 else ''}")
        cells[name] = _column_cells(column, locate(None, name))
    lengths = {len(c) for c in cells.values()}
    if len(lengths) > 1:
        raise field_error(field, "columns differ in length: " + ", ".join(
            f"{n} has {len(c)}" for n, c in cells.items()))
    _check_rows(lengths.pop() if lengths else 0, field, settings)
    return _table(lambda: Table.from_columns(cells), locate), locate


def _column_cells(column: object, field: str) -> list[object]:
    values = column.tolist() if isinstance(column, np.ndarray) else column
    if not isinstance(values, list):
        raise field_error(field, "must be a list of cells, one per row")
    if values and all(isinstance(v, list) and len(v) == 1 for v in values):  # [N, 1]
        values = [v[0] for v in values]
    return [plain_cell(v) for v in values]


def from_csv(table: Table, loaded: LoadedModel, settings: Settings) -> tuple[Table, Locate]:
    """A CSV's text ``table``, whose header holds some or all of the model's columns, in any
    order."""
    names = set(columns_of(loaded))

    def locate(row: int | None, column: str | None) -> str:
        # line numbers as a text editor shows them: the header is line 1
        return "csv" + (f" line {row + 2}" if row is not None else "") + \
            (f" column {column!r}" if column is not None else "")

    unknown = [h for h in table.names if h not in names]
    if unknown:
        raise field_error(locate(None, unknown[0]), "is not a feature of this model")
    _check_rows(table.n_rows, "csv", settings)
    return table, locate


def _table(build: Callable[[], Table], locate: Locate) -> Table:
    try:
        return build()
    except CellError as exc:
        raise field_error(locate(exc.row, exc.column), str(exc)) from None


def encode(loaded: LoadedModel, table: Table, locate: Locate
           ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The network's input for ``table`` and the per-row coercion report; unseen categories
    are counted per feature."""
    try:
        encoded, warnings = loaded.model.encode(table)
    except CellError as exc:
        raise field_error(locate(exc.row, exc.column), str(exc)) from None
    unseen: dict[str, int] = {}
    for w in warnings:
        if w["kind"] == "unseen_category":
            unseen[w["feature"]] = unseen.get(w["feature"], 0) + 1
    for feature, count in unseen.items():
        metrics.record_unseen_categories(loaded.name, feature, count)
    return encoded, warnings
