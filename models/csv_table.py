"""CSV text as a ``Table`` of text cells, read column by column.

The result is what ``csv.reader`` (the default dialect, ``strict=True``) gives, blank lines
left out, turned into columns. Text without a quote character (most machine-written CSVs)
takes a faster path with the same result: its fields are exactly the pieces between commas and
line breaks, so one ``str.split`` over the whole body cuts every cell and a slice per column
gathers them, instead of building a list per row and transposing it.
"""

from __future__ import annotations

import csv
import io
from itertools import repeat

from .tabular import CellError, Table


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
        _check_widths(list(map(len, rows[1:])), len(header))
        return Table(header, list(zip(*rows[1:], strict=True)), text=True)
    lines = _lines(text)
    _need_data(len(lines))
    header = [name.strip() for name in lines[0].split(",")]
    body = lines[1:]
    if set(map(str.count, body, repeat(","))) - {len(header) - 1}:
        _check_widths([n + 1 for n in map(str.count, body, repeat(","))], len(header))
    cells = ",".join(body).split(",")  # no line holds a quote: every comma separates cells
    return Table(header, [cells[j::len(header)] for j in range(len(header))], text=True)


def _need_data(rows: int) -> None:
    if rows < 2:
        raise CsvError("CSV needs a header row and at least one data row")


def _rows_by_csv_module(text: str) -> list[list[str]]:
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error as exc:
        raise CsvError(f"malformed CSV: {exc}") from None


def _lines(text: str) -> list[str]:
    """The non-blank lines of quote-free text (``\\r\\n``, ``\\r`` and ``\\n`` all end one)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":  # the text's last line break
        lines.pop()
    return [line for line in lines if line] if "" in lines else lines


def _check_widths(widths: list[int], width: int) -> None:
    if set(widths) - {width}:
        row = next(i for i, n in enumerate(widths) if n != width)
        raise CellError(f"has {widths[row]} cells; the header has {width}", row)
