"""Held-out evaluation in the training job: the test split, and the metrics of the model on it.

``hold_out`` sets ``params.test_split`` of each class aside before the model sees the data
(stratified, from the job's ``seed``); ``MLPClassifier.fit`` trains on the rest, where its own
``validation_split`` still picks the early-stopping rows. ``HeldOut.evaluation`` then predicts
every row once and scores the test rows and, for comparison, the rows trained on
(``models.metrics``). The result is the ``evaluation`` of the version's ``meta.json``::

    {"split": {"test_split", "seed", "stratified", "train_rows", "test_rows", "note"},
     "test": METRICS or None, "train": METRICS}

A class too small to give a row to each side skips the split (``note`` says which); the model
then trains on every row and ``test`` is None.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models import MLPClassifier
from models.metrics import evaluate
from models.tabular import Table, read_column
from service.jobs.datasets import Dataset

log = logging.getLogger("nnserve.jobs")
#: Mixed into the job's seed: the split draws from a stream of its own, not fit's.
_STREAM = 0x7E57


@dataclass(frozen=True)
class HeldOut:
    """A training set split into the rows to train on and the rows to test on.

    ``train_rows`` and ``test_rows`` are sorted, disjoint row indices of ``data`` covering it
    (``test_rows`` empty when nothing is held out); ``encoding`` is what ``fit`` takes as
    keywords for tabular data.
    """

    data: Dataset
    test_split: float
    seed: int
    train_rows: np.ndarray
    test_rows: np.ndarray
    note: str | None
    encoding: dict[str, Any] = field(default_factory=dict)

    @property
    def X(self) -> np.ndarray | Table:
        """The features to train on, shape (n_train, n_features) or a ``Table``."""
        return take(self.data.X, self.train_rows) if self.test_rows.size else self.data.X

    @property
    def y(self) -> np.ndarray:
        """The labels to train on, shape (n_train,)."""
        return self.data.y[self.train_rows] if self.test_rows.size else self.data.y

    def split(self) -> dict[str, Any]:
        return {"test_split": self.test_split, "seed": self.seed,
                "stratified": bool(self.test_rows.size), "train_rows": int(self.train_rows.size),
                "test_rows": int(self.test_rows.size), "note": self.note}

    def class_counts(self, classes: np.ndarray) -> list[int]:
        """Rows of each class in the whole data set, in ``classes`` order."""
        values, counts = np.unique(self.data.y, return_counts=True)
        found = dict(zip(values.tolist(), counts.tolist(), strict=True))
        return [int(found.get(c, 0)) for c in classes.tolist()]

    def evaluation(self, clf: MLPClassifier) -> dict[str, Any]:
        """``meta.json``'s ``evaluation`` for ``clf`` trained on ``X``, ``y``: one
        ``predict_proba`` over every row, scored on the test and the training rows."""
        split = self.split()
        try:
            proba = clf.predict_proba(self.data.X)
            classes = clf.classes_
            test = (evaluate(self.data.y[self.test_rows], proba[self.test_rows], classes)
                    if self.test_rows.size else None)
            train = evaluate(self.data.y[self.train_rows], proba[self.train_rows], classes)
        except ValueError as exc:  # e.g. probabilities not finite: the version still publishes
            log.warning("could not evaluate the model: %s", exc)
            split["note"] = f"the model could not be evaluated: {exc}"
            return {"split": split, "test": None, "train": None}
        return {"split": split, "test": test, "train": train}


def hold_out(data: Dataset, test_split: float, seed: int) -> HeldOut:
    """Split ``data`` for training and held-out evaluation.

    Parameters
    ----------
    data : the job's training set.
    test_split : share of each class's rows to hold out, in [0, 0.5]; 0 holds out none.
    seed : the job's seed.
    """
    everything = np.arange(len(data.y))
    none = np.empty(0, dtype=np.int64)
    if test_split <= 0:
        return HeldOut(data, test_split, seed, everything, none,
                       "test_split is 0: no rows were held out", dict(data.encoding))
    values, y, counts = np.unique(data.y, return_inverse=True, return_counts=True)
    y = y.reshape(-1)
    held = _held_per_class(counts, test_split)
    short = [(values[c].item(), int(counts[c])) for c in range(len(values))
             if held[c] < 1 or held[c] >= counts[c]]
    if short:
        label, n = min(short, key=lambda s: s[1])
        note = (f"the test split was skipped: class {label!r} has {n} row{'s' * (n != 1)}; "
                f"with test_split={test_split:g} each class needs at least "
                f"{_rows_needed(test_split)} to give rows to both training and testing")
        return HeldOut(data, test_split, seed, everything, none, note, dict(data.encoding))
    rng = np.random.default_rng([_STREAM, seed])
    test = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:held[c]]
                                   for c in range(len(values))]))
    train = np.setdiff1d(everything, test, assume_unique=True)
    return HeldOut(data, test_split, seed, train, test, None,
                   _pinned_types(data, train) if isinstance(data.X, Table)
                   else dict(data.encoding))


def _held_per_class(counts: np.ndarray, fraction: float) -> np.ndarray:
    """Test rows of each class: its share rounded half up."""
    return np.floor(counts * fraction + 0.5).astype(np.int64)


def _rows_needed(fraction: float) -> int:
    n = 2
    while not 1 <= _held_per_class(np.array([n]), fraction)[0] < n:
        n += 1
    return n


def take(X: np.ndarray | Table, rows: np.ndarray) -> np.ndarray | Table:
    """Rows ``rows`` of a matrix or a ``Table``."""
    if isinstance(X, Table):
        at = rows.tolist()
        return Table(X.names, [[column[i] for i in at] for column in X.columns], X.text)
    return X[rows]


def _pinned_types(data: Dataset, train: np.ndarray) -> dict[str, Any]:
    """``fit``'s encoding with the type of every column the training rows alone would read
    narrower (e.g. boolean, when a category only occurs in test rows) fixed to the whole
    set's, so that the test rows read as the request that sent them was checked."""
    assert isinstance(data.X, Table)
    encoding = dict(data.encoding)
    given = dict(encoding.get("feature_types") or {})
    pinned = dict(given)
    part = take(data.X, train)
    assert isinstance(part, Table)
    for name, whole, cells in zip(data.X.names, data.X.columns, part.columns, strict=True):
        if name in given:
            continue
        kind = read_column(whole, name, data.X.text).kind
        if read_column(cells, name, data.X.text).kind != kind:
            pinned[name] = kind
    if pinned != given:
        encoding["feature_types"] = pinned
    return encoding
