"""``TabularEncoder``: how each column of a ``Table`` becomes numbers, learned in ``fit``.

- numeric: a missing cell becomes the training median; a column that had any missing cell in
  training gets a missing-indicator column after it (scikit-learn's
  ``SimpleImputer(add_indicator=True)``).
- boolean: 0/1, missing handled as numeric.
- categorical: one-hot over at most ``max_categories`` of the most frequent categories seen at
  least ``min_frequency`` times, then an "other" column for rarer and unseen categories, then,
  if training had missing cells, a "missing" column (missing is a category of its own).
- A column missing in every training row, or constant, is dropped (``ColumnSpec.dropped``).

The result is standardised afterwards like any numeric input. ``to_arrays`` / ``from_arrays``
store everything as plain arrays (unicode, float64, bool, int64) for the ``.npz`` artifact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from itertools import chain, islice, repeat
from typing import Any

import numpy as np

from .columns import Column, read_column
from .encoder_layout import ColumnSpec, Layout, OneHot, ScalarGroup, lay_out
from .tabular import KINDS, CellError, Table

__all__ = ["ColumnSpec", "TabularEncoder"]

_MAX_RARE = 10_000  # seen-but-rare categories remembered per column, to tell them from unseen


class TabularEncoder:
    """Learns column types, imputation and one-hot vocabularies; encodes tables as matrices.

    Parameters
    ----------
    feature_types : mapping of str to {"numeric", "boolean", "categorical"}, optional
        Overrides the inferred type of the named columns.
    max_categories : int
        One-hot columns kept per categorical column, besides "other" and "missing".
    min_frequency : int
        Training rows a category needs to get a column of its own.

    Attributes
    ----------
    columns_ : list of ColumnSpec
        One per input column, in input order.
    """

    def __init__(self, feature_types: Mapping[str, str] | None = None, max_categories: int = 32,
                 min_frequency: int = 2) -> None:
        self.feature_types = dict(feature_types or {})
        self.max_categories = max_categories
        self.min_frequency = min_frequency

    @property
    def names_(self) -> list[str]:
        return [spec.name for spec in self.columns_]

    @property
    def n_features_out_(self) -> int:
        return self._layout.width

    def feature_names_out(self) -> list[str]:
        return [name for spec in self.columns_ for name in spec.output_names()]

    def fit(self, table: Table) -> TabularEncoder:
        """Learn every column's type and encoding from ``table`` (the training rows)."""
        self.fit_transform(table)
        return self

    def fit_transform(self, table: Table) -> np.ndarray:
        """``fit`` then ``transform`` of the same rows, reading each column once.

        Returns
        -------
        X : ndarray of shape (n_rows, n_features_out_), float64
        """
        for name, kind in self.feature_types.items():
            if name not in table.names:
                raise CellError(f"feature_types names {name!r}, which is not a column; columns "
                                f"are {table.names}", column=name)
            if kind not in KINDS:
                raise CellError(f"feature_types[{name!r}] is {kind!r}; expected one of "
                                f"{list(KINDS)}", column=name)
        read = [read_column(cells, name, table.text, self.feature_types.get(name))
                for name, cells in zip(table.names, table.columns, strict=True)]
        self.columns_ = [self._fit_column(name, column)
                         for name, column in zip(table.names, read, strict=True)]
        self.__dict__.pop("_layout", None)  # a refit lays its columns out anew
        if self.n_features_out_ == 0:
            raise CellError("every column is constant or missing in every row: nothing to learn")
        by_name = dict(zip(table.names, read, strict=True))
        scalars = [_joined([by_name[spec.name] for spec in group.specs])
                   for group in self._layout.scalars]
        return self._encode(table.n_rows, scalars,
                            [by_name[one_hot.spec.name] for one_hot in self._layout.categorical],
                            None)

    def _fit_column(self, name: str, column: Column) -> ColumnSpec:
        missing = column.missing
        spec = ColumnSpec(name, column.kind,
                          missing_rate=float(missing.mean()) if len(missing) else 1.0)
        if missing.all():
            spec.dropped = "all_missing"
        elif column.kind == "categorical":
            counts = np.bincount(column.codes[~missing], minlength=len(column.levels))
            often = np.flatnonzero(counts >= self.min_frequency)  # few, even with 10^5 levels
            frequent = sorted(zip((-counts[often]).tolist(),
                                  map(column.levels.__getitem__, often.tolist()), strict=True))
            spec.categories = [c for _, c in frequent[:self.max_categories]]
            kept = set(spec.categories)
            spec.rare = list(islice((c for c in column.levels if c not in kept), _MAX_RARE))
            spec.missing_category = bool(missing.any())
            if len(spec.categories) + bool(spec.rare) + spec.missing_category < 2:
                spec.dropped = "constant"
        else:
            present = column.values[~missing]
            spec.median = float(np.median(present))
            spec.mean, spec.std = float(present.mean()), float(present.std())
            spec.indicator = bool(missing.any())
            if present.min() == present.max() and not spec.indicator:
                spec.dropped = "constant"
        return spec

    def transform(self, table: Table) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Encode ``table``, whose columns are some or all of ``names_`` (absent: missing).

        Returns
        -------
        X : ndarray of shape (n_rows, n_features_out_), float64
        warnings : list of dict
            What was coerced, by row: ``{"row", "feature", "kind": "imputed"}`` for a missing
            cell, ``{"row", "feature", "kind": "unseen_category", "value"}`` for a category
            never seen in training (served as "other").
        """
        layout = self._layout
        for name in table.names:
            if name not in layout.position:
                raise CellError(f"{name!r} is not a feature of this model", column=name)
        given = dict(zip(table.names, table.columns, strict=True))
        blank = ("" if table.text else None,) * table.n_rows  # an absent column: all missing
        scalars = [_read_group(group, [given.get(spec.name, blank) for spec in group.specs],
                               table.text) for group in layout.scalars]
        categorical = [read_column(given.get(one_hot.spec.name, blank), one_hot.spec.name,
                                   table.text, "categorical")
                       for one_hot in layout.categorical]
        warnings: list[dict[str, Any]] = []
        X = self._encode(table.n_rows, scalars, categorical, warnings)
        if warnings:
            warnings.sort(key=lambda w: (w["row"], layout.position[w["feature"]]))
        return X, warnings

    def _encode(self, n: int, scalars: Sequence[Column], categorical: Sequence[Column],
                warnings: list[dict[str, Any]] | None) -> np.ndarray:
        """The matrix of ``n`` rows: each of ``_layout.scalars`` read as one column (its k
        columns' cells one after another) and each categorical column read on its own.
        Coercions are appended to ``warnings`` unless None."""
        layout = self._layout
        out = np.zeros((n, layout.width))
        values = []  # (k, n) per group, written at layout.scalar_at in one assignment
        for group, column in zip(layout.scalars, scalars, strict=True):
            values.append(column.values.reshape(len(group.specs), n))
            if column.n_missing:  # else every indicator stays 0
                missing = column.missing.reshape(len(group.specs), n)
                values[-1] = np.where(missing, group.medians, values[-1])
                out[:, group.indicator_at] = missing[group.with_indicator].T
                if warnings is not None:
                    for k, i in zip(*np.nonzero(missing), strict=True):
                        warnings.append({"row": int(i), "feature": group.specs[k].name,
                                         "kind": "imputed"})
        if values:
            out[:, layout.scalar_at] = np.concatenate(values).T
        rows = np.arange(n)
        for one_hot, column in zip(layout.categorical, categorical, strict=True):
            out[rows, _hot_columns(one_hot, column, warnings)] = 1.0
        return out

    @cached_property
    def _layout(self) -> Layout:
        return lay_out(self.columns_)

    def input_schema(self) -> list[dict[str, Any]]:
        """Per input column: name, type, missing rate in training, dropped, and the categories
        kept (categorical) or median, mean and std (numeric and boolean)."""
        schema = []
        for spec in self.columns_:
            entry: dict[str, Any] = {"name": spec.name, "type": spec.kind,
                                     "missing_rate": spec.missing_rate,
                                     "dropped": bool(spec.dropped)}
            if spec.dropped:
                entry["dropped_reason"] = spec.dropped
            if spec.kind == "categorical":
                entry["categories"] = list(spec.categories)
            elif not spec.dropped:
                entry.update(median=spec.median, mean=spec.mean, std=spec.std)
            schema.append(entry)
        return schema

    # ------------------------------------------------------------------ artifact arrays

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything learned, as plain arrays (the artifact's ``tab_*`` entries)."""
        cols = self.columns_
        return {
            "tab_names": np.array([s.name for s in cols], dtype=str),
            "tab_kinds": np.array([s.kind for s in cols], dtype=str),
            "tab_dropped": np.array([s.dropped for s in cols], dtype=str),
            "tab_stats": np.array([[s.missing_rate, s.median, s.mean, s.std] for s in cols],
                                  dtype=np.float64).reshape(len(cols), 4),
            "tab_flags": np.array([[s.indicator, s.missing_category] for s in cols],
                                  dtype=bool).reshape(len(cols), 2),
            "tab_categories": np.array([c for s in cols for c in s.categories], dtype=str),
            "tab_category_counts": np.array([len(s.categories) for s in cols], dtype=np.int64),
            "tab_rare": np.array([c for s in cols for c in s.rare], dtype=str),
            "tab_rare_counts": np.array([len(s.rare) for s in cols], dtype=np.int64),
            "tab_options": np.array([self.max_categories, self.min_frequency], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> TabularEncoder:
        """Rebuild from ``to_arrays``' output; ``ValueError`` names what is inconsistent."""
        names, kinds, dropped = (arrays[k] for k in ("tab_names", "tab_kinds", "tab_dropped"))
        m = names.shape[0] if names.ndim == 1 else -1
        expect = {"tab_names": ("U", (m,)), "tab_kinds": ("U", (m,)),
                  "tab_dropped": ("U", (m,)), "tab_stats": ("f", (m, 4)),
                  "tab_flags": ("b", (m, 2)), "tab_category_counts": ("i", (m,)),
                  "tab_rare_counts": ("i", (m,)), "tab_options": ("i", (2,))}
        for key, (dkind, shape) in expect.items():
            arr = arrays[key]
            if arr.dtype.kind != dkind or arr.shape != shape:
                raise ValueError(f"array {key!r} must be {dkind} of shape {shape}, got "
                                 f"{arr.dtype} {arr.shape}")
        if not set(kinds.tolist()) <= set(KINDS):
            raise ValueError(f"array 'tab_kinds' holds unknown types {sorted(set(kinds.tolist()))}")
        categories = _split(arrays["tab_categories"], arrays["tab_category_counts"], "categories")
        rare = _split(arrays["tab_rare"], arrays["tab_rare_counts"], "rare")
        options = arrays["tab_options"].tolist()
        encoder = cls(max_categories=options[0], min_frequency=options[1])
        stats, flags = arrays["tab_stats"], arrays["tab_flags"]
        if not np.isfinite(stats).all():
            raise ValueError("array 'tab_stats' holds NaN or infinity")
        encoder.columns_ = [
            ColumnSpec(str(names[j]), str(kinds[j]), str(dropped[j]),
                       missing_rate=float(stats[j, 0]), median=float(stats[j, 1]),
                       mean=float(stats[j, 2]), std=float(stats[j, 3]),
                       indicator=bool(flags[j, 0]), categories=categories[j], rare=rare[j],
                       missing_category=bool(flags[j, 1]))
            for j in range(m)]
        return encoder


def _hot_columns(one_hot: OneHot, column: Column,
                 warnings: list[dict[str, Any]] | None) -> np.ndarray:
    """Per row, the output column a category sets: its own, other, or missing."""
    spec = one_hot.spec
    # one entry per level, then the missing rows' column, which their code (-1) picks
    level_columns = np.fromiter(
        chain(map(one_hot.at.get, column.levels, repeat(one_hot.other_at)),
              [one_hot.missing_at]), np.intp, len(column.levels) + 1)
    if warnings is not None:
        if column.n_missing:
            warnings += [{"row": i, "feature": spec.name, "kind": "imputed"}
                         for i in np.flatnonzero(column.missing).tolist()]
        unseen = [] if all(map(one_hot.at.__contains__, column.levels)) else [
            k for k, level in enumerate(column.levels)
            if level not in one_hot.at and level not in spec.rare_set]
        if unseen:
            for i in np.flatnonzero(np.isin(column.codes, unseen)).tolist():
                warnings.append({"row": i, "feature": spec.name, "kind": "unseen_category",
                                 "value": column.levels[column.codes[i]]})
    return level_columns[column.codes]


def _read_group(group: ScalarGroup, columns: list[Sequence[Any]], text: bool) -> Column:
    """The cells of a group's columns, one column after another, read as one column of its
    kind (the cell rules do not depend on the column); a cell that does not fit is then found
    column by column, so the error names its own column and row."""
    try:
        return read_column(list(chain.from_iterable(columns)), group.specs[0].name, text,
                           group.kind)
    except CellError:
        for spec, cells in zip(group.specs, columns, strict=True):
            read_column(cells, spec.name, text, group.kind)
        raise


def _joined(columns: list[Column]) -> Column:
    """Columns of one kind as one, their cells one after another (``_read_group``'s form)."""
    return Column(columns[0].kind, np.concatenate([c.missing for c in columns]),
                  sum(c.n_missing for c in columns),
                  values=np.concatenate([c.values for c in columns]))


def _split(flat: np.ndarray, counts: np.ndarray, what: str) -> list[list[str]]:
    if flat.ndim != 1 or (flat.size and flat.dtype.kind != "U") or (counts < 0).any() \
            or counts.sum() != flat.size:
        raise ValueError(f"arrays 'tab_{what}' and 'tab_{what}_counts' disagree")
    ends = np.cumsum(counts)
    return [flat[end - n:end].tolist() for n, end in zip(counts, ends, strict=True)]
