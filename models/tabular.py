"""Tabular input as it comes: named columns of numbers, booleans, text and gaps.

Every form of tabular input (records, rows with names, columns, CSV text) becomes one ``Table``:
named columns of cells, each column a Python list. How a cell reads depends on where it came
from: a ``Table`` of *text* (CSV) holds strings, in which a number is parsed and the NA tokens
below are missing; a typed table (JSON and the like) holds ``None``, ``bool``, numbers and
``str``, where ``None`` alone is missing and a string is never a number.

``read_column`` reads a column as its type, or infers the type for training, refusing a cell
that does not fit with a ``CellError`` naming its row and column.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
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
    columns : list of sequences
        ``columns[j][i]`` is the cell of row ``i`` in column ``names[j]``.
    text : bool
        True when every cell is a string as read from text (CSV): numbers are parsed and the
        NA tokens are missing.
    """

    names: list[str]
    columns: list[Sequence[Any]]
    text: bool = False

    @property
    def n_rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def column(self, name: str) -> Sequence[Any]:
        return self.columns[self.names.index(name)]

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]], names: Sequence[str],
                  text: bool = False) -> Table:
        """Rows of cells in the order of ``names``."""
        width = len(names)
        if not text:
            for i, row in enumerate(rows):
                if isinstance(row, Mapping | str | bytes) or not isinstance(row,
                                                                            Sequence | np.ndarray):
                    raise CellError(f"row {i} is {_kind_of(row)}, not an array of {width} "
                                    "cells", i)
        if set(map(len, rows)) - {width}:
            i = next(i for i, row in enumerate(rows) if len(row) != width)
            raise CellError(f"row {i} has {len(rows[i])} cells, expected {width}", i)
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else \
            [() for _ in names]
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


#: What ``MLPClassifier`` takes as tabular input.
TabularInput = Table | Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]


def as_table(X: Any, names: Sequence[str] | None = None) -> Table | None:
    """``X`` as a ``Table`` when it is tabular input (a ``Table``, a mapping of column name to
    cells, or a non-empty sequence of records), else None. ``names`` are a model's columns."""
    if isinstance(X, Table):
        return X
    if isinstance(X, Mapping):
        return Table.from_columns(X)
    if isinstance(X, Sequence) and not isinstance(X, str) and len(X) \
            and isinstance(X[0], Mapping):
        return Table.from_records(X, names)
    return None


def _kind_of(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), type(value).__name__)


@dataclass
class Column:
    """One column read as its type.

    Attributes
    ----------
    kind : {"numeric", "boolean", "categorical"}
    missing : ndarray of shape (n_rows,), bool
    values : ndarray of shape (n_rows,), float64
        Numeric and boolean (0/1) columns; NaN where missing. Empty for categorical ones.
    cells : list of str
        Categorical columns: each cell's category text, ``""`` where missing. Empty otherwise.
    """

    kind: str
    missing: np.ndarray
    values: np.ndarray = field(default_factory=lambda: np.empty(0))
    cells: list[str] = field(default_factory=list)

    @property
    def n_missing(self) -> int:
        return int(np.count_nonzero(self.missing))


def read_column(cells: Sequence[Any], name: str, text: bool, kind: str | None = None
                ) -> Column:
    """Read a column as ``kind``, or infer it: ``numeric`` when every present cell is a number,
    ``boolean`` when every one is a boolean (in text also true/false/yes/no, any case),
    otherwise ``categorical`` (numbers and booleans taken as their text).

    Raises ``CellError`` naming the first cell that is not of ``kind``, an object or array
    cell, or a number that is not finite.
    """
    if text:
        gaps = list(map(MISSING_TOKENS.__contains__, cells))
    else:
        gaps = [c is None for c in cells]
        for i, cell in enumerate(cells):
            if isinstance(cell, Mapping | list | tuple):
                raise CellError(f"cell is {_kind_of(cell)}; a cell holds one value", i, name)
    missing = np.array(gaps, dtype=bool)
    present = list(compress(cells, map(operator.not_, gaps))) if any(gaps) else cells
    for candidate in [kind] if kind else KINDS:
        read = _READERS[candidate](present, text)
        if read is not None:  # categorical reads anything: inference always ends here
            return _column(candidate, missing, read)
    assert kind is not None  # only a given kind can refuse a cell
    _name_the_cell(cells, missing, name, kind, text)
    raise AssertionError("unreachable")  # pragma: no cover


def _column(kind: str, missing: np.ndarray, present: Any) -> Column:
    if len(present) == len(missing):  # nothing missing
        return Column(kind, missing, cells=present) if kind == "categorical" else \
            Column(kind, missing, values=present)
    if kind == "categorical":
        cells = [""] * len(missing)
        for i, cell in zip(np.flatnonzero(~missing).tolist(), present, strict=True):
            cells[i] = cell
        return Column(kind, missing, cells=cells)
    values = np.full(len(missing), np.nan)
    values[~missing] = present
    return Column(kind, missing, values=values)


def _numbers(present: Sequence[Any], text: bool) -> np.ndarray | None:
    if not text and not all(type(c) in (int, float) for c in present):
        return None  # bool is not a number here, and a JSON string never is
    try:
        values = np.fromiter(map(float, present), np.float64, len(present))
    except (ValueError, TypeError, OverflowError):
        return None
    return values if np.isfinite(values).all() else None


def _booleans(present: Sequence[Any], text: bool) -> np.ndarray | None:
    if not text and not all(isinstance(c, bool | str) or c in (0, 1) for c in present):
        return None
    meaning = {}  # each distinct cell is looked at once
    for cell in set(present):
        value = cell if type(cell) is bool else bool(cell) if not isinstance(cell, str) else \
            BOOLEAN_TOKENS.get(cell.strip().lower())
        if value is None:
            return None
        meaning[cell] = value
    return np.fromiter(map(meaning.__getitem__, present), np.float64, len(present))


def _texts(present: Sequence[Any], text: bool) -> list[str]:
    cells = list(present) if text else list(map(_as_text, present))
    if "\x00" in "".join(cells):  # numpy's unicode arrays (the artifact) drop trailing NULs
        cells = [cell.rstrip("\x00") for cell in cells]
    return cells


_READERS = {"numeric": _numbers, "boolean": _booleans, "categorical": _texts}


def _as_text(cell: Any) -> str:
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))  # 5 and 5.0 are one category, as "5" in a CSV is
    return str(cell)


def _name_the_cell(cells: Sequence[Any], missing: np.ndarray, name: str, kind: str,
                   text: bool) -> None:
    """Raise a ``CellError`` for the first present cell a ``kind`` column cannot hold."""
    for i, cell in enumerate(cells):
        if missing[i] or _READERS[kind]([cell], text) is not None:
            continue
        if kind == "numeric" and not text and isinstance(cell, int | float) \
                and not isinstance(cell, bool) or kind == "numeric" and text and is_number(cell):
            raise CellError(f"{cell!r:.40} in column {name!r} is not a finite number", i, name)
        expected = "a number" if kind == "numeric" else "true/false/yes/no"
        raise CellError(f"{_kind_of(cell)} {cell!r:.40} in {kind} column {name!r}; expected "
                        f"{expected} or null", i, name)


def is_number(text: str) -> bool:
    """Whether ``float`` reads ``text`` (a CSV cell)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
