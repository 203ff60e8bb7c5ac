"""CSV text as a ``Table`` of text cells, read column by column.

The result is what ``csv.reader`` (the default dialect, ``strict=True``) gives, blank lines
left out, turned into columns. Text without a quote character (most machine-written CSVs)
takes a faster path with the same result: its fields are exactly the pieces between commas and
line breaks. That path finds every comma and line break at once (numpy over the UTF-8 bytes),
copies each column's cells next to each other, and only then makes them strings: a column's
strings then lie together in memory, which is what makes reading the column afterwards fast
(row-major strings cost a cache miss per cell, about as much as reading the cell itself).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np

from .tabular import CellError, Table

_COMMA, _LF, _CR = 44, 10, 13
_GROUP_BYTES = 1 << 22  # columns are copied out in groups of about this many bytes


class CsvError(ValueError):
    """Text that is not well-formed CSV (an unclosed quote, a stray character after one)."""


def read_csv(text: str) -> Table:
    """The header row's names (stripped) and every data row's cells as a text ``Table``.

    Raises
    ------
    CsvError
        Malformed CSV, or fewer than a header and one data row.
    CellError
        A row whose cell count differs from the header's; ``row`` counts data rows from 0
        (blank lines not counted), so the header is line 1 and row ``i`` is line ``i + 2``.
    """
    if '"' in text or "\x00" in text:
        rows = _rows_by_csv_module(text)
        _need_data(len(rows))
        header = [name.strip() for name in rows[0]]
        _check_widths(np.fromiter(map(len, rows[1:]), np.intp, len(rows) - 1), len(header))
        return Table(header, list(zip(*rows[1:], strict=True)), text=True)
    return _read_unquoted(np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8))


def _read_unquoted(data: np.ndarray) -> Table:
    """``read_csv`` of quote-free text as UTF-8 bytes (commas and breaks are single bytes)."""
    breaks = np.flatnonzero((data == _LF) | (data == _CR))
    # every \r and \n ends a line; the empty "line" inside \r\n is dropped with the blank ones
    starts, ends = np.append(0, breaks + 1), np.append(breaks, len(data))
    lines = ends > starts
    starts, ends = starts[lines], ends[lines]
    _need_data(len(starts))
    commas = np.flatnonzero(data == _COMMA)
    per_line = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    header = [name.strip() for name in _text(data[starts[0]:ends[0]]).split(",")]
    width, n = len(header), len(starts) - 1
    _check_widths(per_line[1:] + 1, width)
    inner = commas[per_line[0]:].reshape(n, width - 1)  # each row's commas
    # each cell's first byte and length with the byte after it, column after column
    first = np.concatenate((starts[1:, None], inner + 1), axis=1).T.ravel()
    spans = np.concatenate((inner, ends[1:, None]), axis=1).T.ravel() + 1 - first
    data = np.append(data, np.uint8(_LF))  # the byte after the last cell
    per_column = spans.reshape(width, n).sum(axis=1)
    cuts = np.flatnonzero(np.diff(np.cumsum(per_column) // _GROUP_BYTES)) + 1
    columns: list[Sequence[str]] = []
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), width], strict=True):
        first_g, spans_g = first[lo * n:hi * n], spans[lo * n:hi * n]
        at = np.cumsum(spans_g) - spans_g  # where each cell lands in the copy
        copy = data[np.arange(at[-1] + spans_g[-1]) + np.repeat(first_g - at, spans_g)]
        copy[at + spans_g - 1] = _LF  # the comma or break after each cell
        cells = _text(copy).split("\n")
        columns += [cells[j * n:(j + 1) * n] for j in range(hi - lo)]
    return Table(header, columns, text=True)


def _text(data: np.ndarray) -> str:
    return data.tobytes().decode("utf-8", "surrogatepass")


def _need_data(rows: int) -> None:
    if rows < 2:
        raise CsvError("CSV needs a header row and at least one data row")


def _rows_by_csv_module(text: str) -> list[list[str]]:
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error as exc:
        raise CsvError(f"malformed CSV: {exc}") from None


def _check_widths(widths: np.ndarray, width: int) -> None:
    wrong = np.flatnonzero(widths != width)
    if len(wrong):
        row = int(wrong[0])
        raise CellError(f"has {widths[row]} cells; the header has {width}", row)
