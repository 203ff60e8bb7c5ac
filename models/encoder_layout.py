"""What ``TabularEncoder.fit`` learned per column (``ColumnSpec``), and where each column's
encoding lands in the output matrix (``Layout``).

The layout groups the columns still in use by kind: the numeric columns, then the boolean
ones, each group read as one run of cells and written in one assignment; categorical columns
are read one by one (each has its own vocabulary) and set in one scatter. A request's few rows
then cost a fixed number of numpy calls, not a few per column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass
class ColumnSpec:
    """What ``fit`` learned about one input column."""

    name: str
    kind: str
    dropped: str = ""            # why the column is not used ("all_missing", "constant"), or ""
    missing_rate: float = 0.0
    median: float = 0.0          # numeric and boolean: the value a missing cell gets
    mean: float = 0.0
    std: float = 0.0
    indicator: bool = False      # numeric and boolean: a missing-indicator column follows
    categories: list[str] = field(default_factory=list)  # kept, most frequent first
    rare: list[str] = field(default_factory=list)        # seen in training, served as other
    missing_category: bool = False

    @property
    def width(self) -> int:
        if self.dropped:
            return 0
        if self.kind == "categorical":
            return len(self.categories) + 1 + self.missing_category
        return 1 + self.indicator

    @cached_property
    def rare_set(self) -> frozenset[str]:
        return frozenset(self.rare)

    def output_names(self) -> list[str]:
        if self.dropped:
            return []
        if self.kind != "categorical":
            return [self.name] + ([f"{self.name}__missing"] if self.indicator else [])
        return ([f"{self.name}={c}" for c in self.categories] + [f"{self.name}__other"]
                + ([f"{self.name}__missing"] if self.missing_category else []))


@dataclass(frozen=True)
class ScalarGroup:
    """The used columns of one scalar kind (numeric or boolean), in model order.

    Attributes
    ----------
    kind : {"numeric", "boolean"}
    specs : list of ColumnSpec, length k
    medians : ndarray of shape (k, 1), float64
        What a missing cell of each column becomes.
    with_indicator : ndarray of shape (m,), intp
        Which of the k columns have a missing-indicator column, and ``indicator_at`` where.
    indicator_at : ndarray of shape (m,), intp
    """

    kind: str
    specs: list[ColumnSpec]
    medians: np.ndarray
    with_indicator: np.ndarray
    indicator_at: np.ndarray


@dataclass(frozen=True)
class OneHot:
    """A used categorical column and the output column each of its cells may set to 1."""

    spec: ColumnSpec
    at: dict[str, int]  # each kept category's output column
    other_at: int       # rarer and unseen categories
    missing_at: int     # a missing cell ("other" when training had none)


@dataclass(frozen=True)
class Layout:
    """Where every used column's encoding goes in a row of ``width`` outputs."""

    width: int
    scalars: list[ScalarGroup]
    scalar_at: np.ndarray  # each scalar column's output column, group after group
    categorical: list[OneHot]
    position: dict[str, int]  # a column's place among all input columns


def lay_out(specs: list[ColumnSpec]) -> Layout:
    """The ``Layout`` of an encoder's ``columns_`` (blocks follow the input column order)."""
    starts = np.cumsum([0] + [spec.width for spec in specs]).tolist()
    scalars, scalar_at = [], []
    for kind in ("numeric", "boolean"):
        used = [j for j, spec in enumerate(specs) if spec.kind == kind and not spec.dropped]
        if not used:
            continue
        flagged = [k for k, j in enumerate(used) if specs[j].indicator]
        scalar_at += [starts[j] for j in used]
        scalars.append(ScalarGroup(
            kind, [specs[j] for j in used], np.array([[specs[j].median] for j in used], np.float64),
            np.array(flagged, np.intp), np.array([starts[used[k]] + 1 for k in flagged],
                                                 np.intp)))
    categorical = []
    for j, spec in enumerate(specs):
        if spec.kind == "categorical" and not spec.dropped:
            other = starts[j] + len(spec.categories)
            categorical.append(OneHot(spec, {c: starts[j] + k for k, c in
                                             enumerate(spec.categories)},
                                      other, other + spec.missing_category))
    return Layout(starts[-1], scalars, np.array(scalar_at, np.intp), categorical,
                  {spec.name: j for j, spec in enumerate(specs)})
