"""Tabular input as it comes: named columns of numbers, booleans, text and gaps.

Every form of tabular input (records, rows with names, columns, CSV text) becomes one ``Table``:
named columns of cells, each column a Python list. How a cell reads depends on where it came
from: a ``Table`` of *text* (CSV) holds strings, in which a number is parsed and the NA tokens
below are missing; a typed table (JSON and the like) holds ``None``, ``bool``, numbers and
``str``, where ``None`` alone is missing and a string is never a number.

``models.columns.read_column`` reads a column as its type.
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
                    raise CellError(f"row {i} is {kind_of(row)}, not an array of {width} "
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
                raise CellError(f"record {i} is {kind_of(record)}, not an object", i)
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


def kind_of(value: Any) -> str:
    """What a cell or row is, in JSON's words, for error messages."""
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), type(value).__name__)


def is_number(text: str) -> bool:
    """Whether ``float`` reads ``text`` (a CSV cell)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
