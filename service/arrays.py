"""Turn decoded request values into validated NumPy matrices (transport-free).

Structure is checked by the schemas; the numbers themselves are checked here with NumPy, because
element-wise marshmallow fields cost ~40x more on large arrays.
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

import numpy as np

from service.errors import ServiceError, Unprocessable, field_error
from service.names import FLOAT32_MAX

_NUMERIC_KINDS = "iuf"


class JsonBoolean:
    """A JSON ``true`` or ``false`` found in an array: a value that no numeric check accepts
    (Python alone would take it for 1 or 0 among numbers). A tabular model's boolean column
    reads its ``value``."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"


def plain_cell(cell: object) -> object:
    """A JSON cell as decoded, with a ``JsonBoolean`` back to its ``bool``."""
    return cell.value if type(cell) is JsonBoolean else cell


class Limits(TypedDict):
    """The size limits of one request's matrix (``**limits`` for :func:`as_matrix`)."""

    max_rows: int
    max_features: int


def as_matrix(value: object, field: str, *, max_rows: int, max_features: int,
              dtype: type = np.float32) -> np.ndarray:
    """Validate a list of rows of numbers and return it as a C-contiguous 2-D array.

    Parameters
    ----------
    value : list of list of numbers, shape (n_rows, n_features)
    field : the field path named in errors (``"instances"``, ``"data.features"``, ...).

    Returns
    -------
    ndarray of shape (n_rows, n_features) and ``dtype``.

    Raises ``Unprocessable`` naming ``field`` for empty, ragged, non-numeric, non-finite or
    oversized input. Cells must lie within float32's range, the widest every model computes in,
    whatever ``dtype`` holds them: float64 keeps digits that float32 would round away before
    the model centres the rows (1e6 + 0.01 is 1e6 in float32).
    """
    if not isinstance(value, list) or not value:
        raise field_error(field, "must be a non-empty list of rows")
    if len(value) > max_rows:
        raise field_error(field, f"has {len(value)} rows; the limit is {max_rows}")
    try:
        arr = np.asarray(value)
    except ValueError:
        raise _ragged(value, field) from None
    if arr.dtype.kind not in _NUMERIC_KINDS and arr.ndim == 2:
        raise _non_numeric(value, field)  # name the cell as the client sent it
    return check_matrix(arr, field, max_rows=max_rows, max_features=max_features, dtype=dtype)


def check_matrix(arr: np.ndarray, field: str, *, max_rows: int, max_features: int,
                 dtype: type = np.float32) -> np.ndarray:
    """The checks of :func:`as_matrix` on an array (from JSON, CSV or raw tensor bytes)."""
    if arr.ndim == 1 and arr.dtype == object:
        raise _ragged(list(arr), field)
    if arr.ndim != 2:
        raise field_error(field, f"must be a 2-D list of rows of numbers, got {arr.ndim}-D")
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise _non_numeric(arr.tolist(), field)
    n_rows, n_features = arr.shape
    if n_rows == 0 or n_features == 0:
        raise field_error(field, "must hold at least one row and one feature")
    if n_rows > max_rows:
        raise field_error(field, f"has {n_rows} rows; the limit is {max_rows}")
    if n_features > max_features:
        raise field_error(field, f"has {n_features} features per row; the limit is {max_features}")
    # Floats within float32's range are finite and cast to float32 without overflow. The sum of
    # the squares tells, in one BLAS call (two min/max reductions cost twice as much per request,
    # np.errstate around every cast ~3 us): it is finite and at most limit**2 only if every cell
    # is finite and within +-limit (NaN and inf propagate). When it is not, possibly because the
    # sum alone overflowed, each cell is looked at. Integers always fit.
    if arr.dtype.kind == "f":
        squares = float(np.vdot(arr, arr))
        if not (math.isfinite(squares) and squares <= FLOAT32_MAX * FLOAT32_MAX):
            _check_float32_range(arr, field)
    return np.ascontiguousarray(arr, dtype=dtype)


def check_width(arr: np.ndarray, field: str, expected: int, model: str) -> None:
    """Refuse rows whose feature count differs from what the model was trained on."""
    got = arr.shape[1]
    if got != expected:
        raise field_error(field, f"model {model!r} expects {expected} features per row, got {got}")


def _check_float32_range(arr: np.ndarray, field: str) -> None:
    """Refuse rows holding a cell that is not finite or lies beyond float32's largest value.

    Cells that round to that largest value are kept; the first cell that is, or becomes,
    infinite or NaN in float32 is refused with a 422 naming it.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        finite = np.isfinite(arr.astype(np.float32))
    if finite.all():
        return
    row, col = (int(i) for i in np.argwhere(~finite)[0])
    problem = "is not finite" if not np.isfinite(arr[row, col]) else "overflows float32"
    path = f"{field}[{row}][{col}]"
    raise Unprocessable(f"{path} {problem}; NaN and Infinity are not allowed",
                        errors={path: [f"{problem}; NaN and Infinity are not allowed"]})


def _ragged(rows: list[Any], field: str) -> ServiceError:
    width = None
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            return field_error(f"{field}[{i}]", "must be a list of numbers")
        if width is None:
            width = len(row)
        elif len(row) != width:
            return field_error(f"{field}[{i}]",
                               f"has {len(row)} values; row 0 has {width} (ragged rows)")
    return field_error(field, "rows must all be lists of numbers of one length")


def _non_numeric(rows: list[Any], field: str) -> ServiceError:
    for i, row in enumerate(rows):
        for j, cell in enumerate(row if isinstance(row, list) else [row]):
            if isinstance(cell, bool) or not isinstance(cell, int | float):
                return field_error(f"{field}[{i}][{j}]", f"must be a number, got {cell!r:.40}")
    return field_error(field, "must hold numbers only")
