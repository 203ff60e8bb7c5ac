"""Reading a column of a ``Table`` as its type: numeric, boolean or categorical.

``read_column`` reads a column as its type, or infers the type for training, refusing a cell
that does not fit with a ``CellError`` naming its row and column. How a cell reads depends on
where it came from (``Table.text``): in text a number is parsed and the NA tokens are missing;
in a typed table ``None`` alone is missing and a string is never a number.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any

import numpy as np

from .tabular import KINDS, MISSING_TOKENS, CellError, is_number, kind_of

BOOLEAN_TOKENS = {"true": True, "false": False, "yes": True, "no": False}
_AS_NAN = dict.fromkeys(MISSING_TOKENS, "nan")
_NO_VALUES, _NO_CODES = np.empty(0), np.empty(0, np.intp)  # shared: a column's unused field
_SCALARS = {str, int, float, bool, type(None)}  # what JSON cells are; others are looked at
_NUMBER_TYPES, _TEXT_TYPES = frozenset({int, float}), frozenset({str})


@dataclass(slots=True)
class Column:
    """One column read as its type.

    Attributes
    ----------
    kind : {"numeric", "boolean", "categorical"}
    missing : ndarray of shape (n_rows,), bool
    n_missing : int
        How many cells are missing (a reader of JSON cells knows it without counting).
    values : ndarray of shape (n_rows,), float64
        Numeric and boolean (0/1) columns; NaN where missing. Empty for categorical ones.
    levels : list of str
        Categorical columns: the distinct category texts of present cells, in order of first
        appearance. Empty otherwise.
    codes : ndarray of shape (n_rows,), intp
        Categorical columns: each row's index into ``levels``, -1 where missing.

    A categorical column is held as codes into its distinct levels (as pandas' Categorical
    is): counting and one-hot encoding then look each distinct text up once, not each cell.
    """

    kind: str
    missing: np.ndarray
    n_missing: int
    values: np.ndarray = field(default_factory=lambda: _NO_VALUES)
    levels: list[str] = field(default_factory=list)
    codes: np.ndarray = field(default_factory=lambda: _NO_CODES)


def read_column(cells: Sequence[Any], name: str, text: bool, kind: str | None = None
                ) -> Column:
    """Read a column as ``kind``, or infer it: ``numeric`` when every present cell is a number,
    ``boolean`` when every one is a boolean (in text also true/false/yes/no, any case),
    otherwise ``categorical`` (numbers and booleans taken as their text).

    Raises ``CellError`` naming the first cell that is not of ``kind``, an object or array
    cell, or a number that is not finite.
    """
    if text:
        return _read_text(cells, name, kind)
    types = set(map(type, cells))
    if not types <= _SCALARS:
        for i, cell in enumerate(cells):
            if isinstance(cell, Mapping | list | tuple):
                raise CellError(f"cell is {kind_of(cell)}; a cell holds one value", i, name)
    present: Sequence[Any] = cells
    missing = np.zeros(len(cells), bool)
    if type(None) in types:
        missing = np.fromiter(map(operator.is_, cells, repeat(None)), bool, len(cells))
        present = list(compress(cells, (~missing).tolist()))
    for candidate in [kind] if kind else KINDS:
        read = _READERS[candidate](present, False)
        if read is not None:  # categorical reads anything: inference always ends here
            return _column(candidate, missing, read)
    assert kind is not None  # only a given kind can refuse a cell
    _name_the_cell(cells, missing, name, kind, False)
    raise AssertionError("unreachable")  # pragma: no cover


def _read_text(cells: Sequence[str], name: str, kind: str | None) -> Column:
    """``read_column`` of text cells. A column of numbers is parsed straight through; any
    other is read one distinct text (level) at a time, which is what makes booleans and
    categories cheap: a column has far fewer levels than cells."""
    if kind in (None, "numeric"):
        values = _text_numbers(cells)
        if values is not None:
            gaps = np.isnan(values)
            return Column("numeric", gaps, int(np.count_nonzero(gaps)), values=values)
    levels, codes = _factorize(cells)
    gap = np.fromiter(map(MISSING_TOKENS.__contains__, levels), bool, len(levels))
    present = list(compress(levels, (~gap).tolist()))
    renumber = np.cumsum(~gap) - 1
    renumber[gap] = -1
    codes = renumber[codes]  # into the present levels; -1 where missing
    missing = codes < 0
    n_missing = int(np.count_nonzero(missing))
    for candidate in [kind] if kind else KINDS:
        read = _READERS[candidate](present, True)
        if read is None:
            continue
        if candidate == "categorical":
            if read is not present:  # stripping NULs may have merged two levels
                read, merged = _factorize(read)
                codes = np.append(merged, -1)[codes]
            return Column(candidate, missing, n_missing, levels=read, codes=codes)
        return Column(candidate, missing, n_missing, values=np.append(read, np.nan)[codes])
    assert kind is not None  # only a given kind can refuse a cell
    _name_the_cell(cells, missing, name, kind, True)
    raise AssertionError("unreachable")  # pragma: no cover


def _column(kind: str, missing: np.ndarray, present: Any) -> Column:
    gaps = len(missing) - len(present)
    if kind == "categorical":
        levels, codes = _factorize(present)
        if gaps:
            full = np.full(len(missing), -1, np.intp)
            full[~missing] = codes
            codes = full
        return Column(kind, missing, gaps, levels=levels, codes=codes)
    if not gaps:
        return Column(kind, missing, 0, values=present)
    values = np.full(len(missing), np.nan)
    values[~missing] = present
    return Column(kind, missing, gaps, values=values)


def _factorize(cells: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The distinct ``cells`` in order of first appearance, and each cell's index among them."""
    levels = list(dict.fromkeys(cells))
    index = dict(zip(levels, range(len(levels)), strict=True))
    return levels, np.fromiter(map(index.__getitem__, cells), np.intp, len(cells))


def _numbers(present: Sequence[Any], text: bool) -> np.ndarray | None:
    if not text and not set(map(type, present)) <= _NUMBER_TYPES:
        return None  # bool is not a number here, and a JSON string never is
    try:
        values = np.fromiter(map(float, present), np.float64, len(present))
    except (ValueError, TypeError, OverflowError):
        return None
    return values if np.count_nonzero(np.isfinite(values)) == len(values) else None


def _text_numbers(cells: Sequence[str]) -> np.ndarray | None:
    """A text column as numbers with NaN where missing, or None when a present cell is not a
    finite number. Parsing every cell at once, missing tokens read as ``"nan"``, spares
    splitting the column into present and missing cells first; a column with no token that
    ``float`` refuses is parsed as it stands, without looking every cell up among the tokens."""
    try:
        values = np.fromiter(map(float, cells), np.float64, len(cells))
    except ValueError:  # a missing token such as "NA", or text: most columns stop at row 0
        try:
            values = np.fromiter(map(float, map(_AS_NAN.get, cells, cells)), np.float64,
                                 len(cells))
        except ValueError:
            return None
    gaps = np.isnan(values)
    if not np.isfinite(values[~gaps]).all():
        return None
    if gaps.any() and not all(map(MISSING_TOKENS.__contains__,
                                  map(cells.__getitem__, np.flatnonzero(gaps).tolist()))):
        return None  # a NaN that float read from a present cell ("NAN", "+nan")
    return values


def _booleans(present: Sequence[Any], text: bool) -> np.ndarray | None:
    meaning = {}  # each distinct cell is looked at once (text cells come as distinct levels)
    for cell in present if text else set(present):
        if isinstance(cell, str):
            value = BOOLEAN_TOKENS.get(cell.strip().lower())
        elif type(cell) is bool or cell in (0, 1):
            value = bool(cell)
        else:
            return None
        if value is None:
            return None
        meaning[cell] = value
    return np.fromiter(map(meaning.__getitem__, present), np.float64, len(present))


def _texts(present: Sequence[Any], text: bool) -> Sequence[str]:
    cells = present if text or set(map(type, present)) <= _TEXT_TYPES else \
        list(map(_as_text, present))
    if "\x00" in "".join(cells):  # numpy's unicode arrays (the artifact) drop trailing NULs
        cells = [cell.rstrip("\x00") for cell in cells]
    return cells


# Each reads the present cells as its kind, or returns None when one does not fit.
_READERS: dict[str, Callable[[Sequence[Any], bool], Any]] = {
    "numeric": _numbers, "boolean": _booleans, "categorical": _texts}


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
        raise CellError(f"{kind_of(cell)} {cell!r:.40} in {kind} column {name!r}; expected "
                        f"{expected} or null", i, name)
