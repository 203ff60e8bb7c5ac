"""service.arrays: the row checks every prediction and training request goes through."""

from __future__ import annotations

import numpy as np
import pytest

from service.arrays import check_matrix
from service.errors import Unprocessable

LIMITS = {"max_rows": 100, "max_features": 100}
F32_MAX = float(np.finfo(np.float32).max)


@pytest.mark.parametrize("rows", [
    [[3e38, -3e38, 3e38]],                 # each cell fits; the sum of their squares does not
    [[F32_MAX, 1.0], [-F32_MAX, 0.5]],
    np.array([[1e20, -1e20]], dtype=np.float32),   # squares overflow float32 itself
    np.array([[60000, 1]], dtype=np.float16),
    [[0.0, 1e-300, -2.5]],
])
def test_large_and_tiny_finite_cells_are_numbers(rows):
    out = check_matrix(np.asarray(rows), "instances", **LIMITS)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, np.asarray(rows, dtype=np.float32))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("rows, cell, problem", [
    ([[0.0, 1.0], [1.0, 1e39]], "instances[1][1]", "overflows float32"),
    ([[0.0, -1e300]], "instances[0][1]", "overflows float32"),
    ([[0.0, 1.0], [np.nan, 1.0]], "instances[1][0]", "is not finite"),
    ([[np.inf, 1.0]], "instances[0][0]", "is not finite"),
    (np.array([[1.0, -np.inf]], dtype=np.float32), "instances[0][1]", "is not finite"),
])
def test_cells_that_are_not_float32_numbers_are_named(rows, cell, problem):
    with pytest.raises(Unprocessable) as caught:
        check_matrix(np.asarray(rows), "instances", **LIMITS)
    assert problem in caught.value.errors[cell][0]
