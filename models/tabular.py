"""Tabular input as it comes: named columns of numbers, booleans, text and gaps.

Every form of tabular input (records, rows with names, columns, CSV text) becomes one ``Table``:
named columns of cells, each column a Python list. How a cell reads depends on where it came
from: a ``Table`` of *text* (CSV) holds strings, in which a number is parsed and the NA tokens
below are missing; a typed table (JSON and the like) holds ``None``, ``bool``, numbers and
``str``, where ``None`` alone is missing and a string is never a number.

``column_kind`` infers a column's type for training; ``numeric_cells``, ``boolean_cells`` and
``text_cells`` read a column as one type, refusing a cell that is not of it with a
``CellError`` naming its row and column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("numeric", "boolean", "categorical")

# The strings pandas' read_csv reads as missing by default (plus the empty cell).
MISSING_TOKENS = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
BOOLEAN_TOKENS = {"true": True, "false": False, "yes": True, "no": False}


class CellError(ValueError):
    """A cell, row or column that cannot be read; ``row`` and ``column`` locate it.

    ``row`` is None for a whole column's problem, ``column`` None for a whole row's.
    """

    def __init__(self, message: str, row: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.row, self.column = row, column


@dataclass
class Table:
    """Named columns of cells, all of one length.

    Attributes
    ----------
    names : list of str
    columns : list of list
        ``columns[j][i]`` is the cell of row ``i`` in column ``names[j]``.
    text : bool
        True when every cell is a string as read from text (CSV): numbers are parsed and the
        NA tokens are missing.
    """

    names: list[str]
    columns: list[list[Any]]
    text: bool = False

    @property
    def n_rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def column(self, name: str) -> list[Any]:
        return self.columns[self.names.index(name)]

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]], names: Sequence[str],
                  text: bool = False) -> Table:
        """Rows of cells in the order of ``names``."""
        width = len(names)
        for i, row in enumerate(rows):
            if isinstance(row, Mapping) or isinstance(row, str | bytes) or \
                    not isinstance(row, Sequence | np.ndarray):
                raise CellError(f"row {i} is {_kind_of(row)}, not an array of {width} cells", i)
            if len(row) != width:
                raise CellError(f"row {i} has {len(row)} cells, expected {width}", i)
        columns = [list(col) for col in zip(*rows, strict=True)] if rows else \
            [[] for _ in names]
        return cls(list(names), columns, text)

    @classmethod
    def from_records(cls, records: Sequence[Any], names: Sequence[str] | None = None) -> Table:
        """Objects keyed by column name; a missing key is a missing cell.

        With ``names`` (a model's columns) a key outside them is refused; without, the columns
        are every key seen, in order of first appearance.
        """
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise CellError(f"record {i} is {_kind_of(record)}, not an object", i)
        if names is None:
            seen: dict[str, None] = {}
            for record in records:
                seen.update(dict.fromkeys(record))
            names = list(seen)
        else:
            known = set(names)
            for i, record in enumerate(records):
                for key in record:
                    if key not in known:
                        raise CellError(f"record {i} has {key!r}, which is not a feature of "
                                        "this model", i, str(key))
        return cls(list(names), [[record.get(name) for record in records] for name in names])

    @classmethod
    def from_columns(cls, columns: Mapping[str, Sequence[Any]]) -> Table:
        """Columns keyed by name, all of one length."""
        lengths = {name: len(col) for name, col in columns.items()}
        if len(set(lengths.values())) > 1:
            raise CellError(f"columns differ in length: {lengths}")
        return cls(list(columns), [list(col) for col in columns.values()])


def _kind_of(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), type(value).__name__)


def _nested(column: list[Any], name: str) -> None:
    for i, cell in enumerate(column):
        if isinstance(cell, Mapping | list | tuple):
            raise CellError(f"cell is {_kind_of(cell)}; a cell holds one value", i, name)


def missing_mask(column: list[Any], text: bool) -> np.ndarray:
    """Boolean mask of shape (n_rows,): True where the cell is missing."""
    if text:
        return np.fromiter(map(MISSING_TOKENS.__contains__, column), bool, len(column))
    return np.fromiter((cell is None for cell in column), bool, len(column))


def numeric_cells(column: list[Any], name: str, text: bool,
                  missing: np.ndarray) -> np.ndarray:
    """The column as float64 of shape (n_rows,), NaN where missing; a cell that is not a
    finite number is a ``CellError``."""
    if not text:
        _nested(column, name)
        for i, cell in enumerate(column):
            if not missing[i] and (isinstance(cell, bool) or not isinstance(cell, int | float)):
                raise CellError(f"{_kind_of(cell)} {cell!r:.40} in numeric column {name!r}; "
                                "expected a number or null", i, name)
    values = np.full(len(column), np.nan)
    present = np.flatnonzero(~missing)
    try:
        values[present] = np.asarray([column[i] for i in present], dtype=np.float64)
    except (ValueError, OverflowError):
        for i in present:  # find the first cell that is not a number, to name it
            try:
                float(column[i])
            except (ValueError, OverflowError):
                raise CellError(f"{column[i]!r:.40} in numeric column {name!r} is not a number",
                                int(i), name) from None
    bad = present[~np.isfinite(values[present])]
    if bad.size:
        raise CellError(f"{column[bad[0]]!r:.40} in column {name!r} is not a finite number",
                        int(bad[0]), name)
    return values


def boolean_cells(column: list[Any], name: str, text: bool, missing: np.ndarray) -> np.ndarray:
    """The column as float64 0/1 of shape (n_rows,), NaN where missing. Booleans, and the
    tokens true/false/yes/no in any case, are read; anything else is a ``CellError``."""
    values = np.full(len(column), np.nan)
    for i, cell in enumerate(column):
        if missing[i]:
            continue
        if isinstance(cell, bool):
            values[i] = cell
        elif isinstance(cell, str) and cell.strip().lower() in BOOLEAN_TOKENS:
            values[i] = BOOLEAN_TOKENS[cell.strip().lower()]
        else:
            raise CellError(f"{cell!r:.40} in boolean column {name!r} is not true/false/yes/no",
                            i, name)
    return values


def text_cells(column: list[Any], name: str, text: bool, missing: np.ndarray) -> list[str]:
    """The column's cells as category strings (a number is taken as its text; a boolean as
    ``true``/``false``); missing cells are ``""`` and flagged by ``missing``."""
    if text:
        return ["" if missing[i] else cell for i, cell in enumerate(column)]
    _nested(column, name)
    return ["" if missing[i] else _as_text(cell) for i, cell in enumerate(column)]


def _as_text(cell: Any) -> str:
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # 5 and 5.0 are one category, as "5" in a CSV is
    return str(cell)


def column_kind(column: list[Any], name: str, text: bool, missing: np.ndarray) -> str:
    """The type a training column is read as: ``numeric`` when every present cell is a number,
    ``boolean`` when every one is a boolean (or, in text, true/false/yes/no), otherwise
    ``categorical``."""
    present = [cell for cell, gap in zip(column, missing, strict=True) if not gap]
    if text:
        try:
            np.asarray(present, dtype=np.float64)
            return "numeric"
        except ValueError:
            pass
        if all(cell.strip().lower() in BOOLEAN_TOKENS for cell in present):
            return "boolean"
        return "categorical"
    _nested(column, name)
    if all(isinstance(c, int | float) and not isinstance(c, bool) for c in present):
        return "numeric"
    if all(isinstance(c, bool) for c in present):
        return "boolean"
    return "categorical"
