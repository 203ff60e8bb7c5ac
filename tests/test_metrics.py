"""``models.metrics.evaluate`` against ``sklearn.metrics`` (to 1e-9) on random data, and the
reliability table against a plain computation and ``sklearn.calibration.calibration_curve``."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from models.metrics import N_BINS, UnknownLabels, class_indices, evaluate

TOL = 1e-9
# A few repeated values, so that scores tie within a column.
_CELL = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0]), st.floats(0.0, 1.0))


@st.composite
def cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, list[object]]:
    k = draw(st.integers(2, 5))
    n = draw(st.integers(1, 60))
    weights = draw(arrays(np.float64, (n, k), elements=_CELL)) + 1e-3
    if draw(st.booleans()):  # rows drawn from a few probability vectors: ties across rows
        weights = weights[draw(st.lists(st.integers(0, n - 1), min_size=n, max_size=n))]
    proba = weights / weights.sum(axis=1, keepdims=True)
    y = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    classes: list[object] = (list(range(10, 10 + k)) if draw(st.booleans())
                             else [f"c{i}" for i in range(k)])
    return y, proba, classes


def _close(a: float | None, b: float) -> None:
    assert a is not None and math.isclose(a, b, rel_tol=TOL, abs_tol=TOL), (a, b)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_evaluate_equals_sklearn(case: tuple[np.ndarray, np.ndarray, list[object]]) -> None:
    y, proba, classes = case
    k = len(classes)
    labels = list(range(k))
    m = evaluate(np.asarray(classes)[y], proba, classes)
    pred = proba.argmax(axis=1)
    assert m["rows"] == len(y) and m["classes"] == classes
    with warnings.catch_warnings():  # sklearn warns about absent classes; we compare anyway
        warnings.simplefilter("ignore")
        _close(m["accuracy"], skm.accuracy_score(y, pred))
        _close(m["balanced_accuracy"], skm.balanced_accuracy_score(y, pred))
        _close(m["log_loss"], skm.log_loss(y, proba, labels=labels))
        _close(m["macro_f1"], skm.f1_score(y, pred, labels=labels, average="macro",
                                           zero_division=0))
        _close(m["brier_score"], skm.brier_score_loss(y, proba, labels=labels))
        p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=labels,
                                                         zero_division=0)
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=labels).tolist()
    aucs = []
    for c, row in enumerate(m["per_class"]):
        assert row["class"] == classes[c] and row["support"] == s[c]
        _close(row["precision"], p[c])
        _close(row["recall"], r[c])
        _close(row["f1"], f[c])
        if 0 < (y == c).sum() < len(y):
            aucs.append(skm.roc_auc_score(y == c, proba[:, c]))
            _close(row["roc_auc"], aucs[-1])
        else:
            assert row["roc_auc"] is None
    if len(aucs) < k:
        assert m["roc_auc"] is None
    elif k > 2:
        _close(m["roc_auc"], skm.roc_auc_score(y, proba, multi_class="ovr", average="macro",
                                               labels=labels))
    else:
        _close(m["roc_auc"], float(np.mean(aucs)))


def _reliability_by_hand(y: np.ndarray, proba: np.ndarray) -> tuple[list[list[float]], float]:
    groups: list[list[tuple[float, bool]]] = [[] for _ in range(N_BINS)]
    for row, label in zip(proba, y, strict=True):
        top = int(np.argmax(row))
        conf = float(row[top])
        b = next(i for i in range(N_BINS) if conf < (i + 1) / 10 or i == N_BINS - 1)
        groups[b].append((conf, top == label))
    table, ece = [], 0.0
    for g in groups:
        if g:
            conf = sum(c for c, _ in g) / len(g)
            acc = sum(h for _, h in g) / len(g)
            table.append([len(g), conf, acc])
            ece += len(g) / len(y) * abs(acc - conf)
        else:
            table.append([0, None, None])
    return table, ece


@settings(max_examples=200, deadline=None)
@given(cases())
def test_reliability_table_and_ece(case: tuple[np.ndarray, np.ndarray, list[object]]) -> None:
    y, proba, classes = case
    m = evaluate(np.asarray(classes)[y], proba, classes)
    table, ece = _reliability_by_hand(y, proba)
    _close(m["ece"], ece)
    assert len(m["calibration"]) == N_BINS
    for i, (got, (count, conf, acc)) in enumerate(zip(m["calibration"], table, strict=True)):
        assert (got["lower"], got["upper"]) == (i / 10, (i + 1) / 10)
        assert got["count"] == count
        if count:
            _close(got["mean_confidence"], conf)
            _close(got["accuracy"], acc)
        else:
            assert got["mean_confidence"] is None and got["accuracy"] is None


def test_reliability_matches_calibration_curve() -> None:
    """The reliability table is a calibration curve of "the top class is right" against the
    top-class confidence (continuous scores: no value falls on a bin edge)."""
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=2.0, size=(2000, 4))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = rng.integers(0, 4, size=2000)
    m = evaluate(y, proba, [0, 1, 2, 3])
    hit = proba.argmax(axis=1) == y
    prob_true, prob_pred = calibration_curve(hit, proba.max(axis=1), n_bins=N_BINS)
    filled = [b for b in m["calibration"] if b["count"]]
    np.testing.assert_allclose([b["accuracy"] for b in filled], prob_true, rtol=0, atol=TOL)
    np.testing.assert_allclose([b["mean_confidence"] for b in filled], prob_pred, rtol=0,
                               atol=TOL)


def test_float32_probabilities_clip_with_their_own_epsilon() -> None:
    proba = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    m = evaluate([1, 1], proba, [0, 1])
    eps = float(np.finfo(np.float32).eps)  # clipped as sklearn does, then logged in float64
    clipped = np.clip(proba.astype(np.float64), eps, 1 - eps)
    _close(m["log_loss"], skm.log_loss([1, 1], clipped, labels=[0, 1]))
    assert m["log_loss"] > 7.9  # -log(float32 eps): not float64's 36


def test_unknown_labels_are_named() -> None:
    with pytest.raises(UnknownLabels) as info:
        evaluate(["a", "z", "y", "a"], np.full((4, 2), 0.5), ["a", "b"])
    assert info.value.labels == ["y", "z"]
    with pytest.raises(UnknownLabels):  # an int never stands for a str class
        class_indices([1], ["1", "2"])


@pytest.mark.parametrize("proba, message", [
    (np.zeros((0, 2)), "no rows"),
    (np.full((2, 3), 1 / 3), "shape"),
    (np.array([[np.nan, 1.0], [0.5, 0.5]]), "finite"),
    (np.array([[1.5, -0.5], [0.5, 0.5]]), "in \\[0, 1\\]"),
])
def test_bad_probabilities(proba: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate([0, 1][: len(proba)], proba, [0, 1])


def test_perfect_and_json_plain() -> None:
    m = evaluate(["b", "a"], [[0.0, 1.0], [1.0, 0.0]], np.array(["a", "b"]))
    assert m["accuracy"] == m["macro_f1"] == m["roc_auc"] == 1.0 and m["ece"] == 0.0
    assert m["classes"] == ["a", "b"] and type(m["classes"][0]) is str
    assert m["calibration"][-1]["count"] == 2 and m["confusion_matrix"] == [[1, 0], [0, 1]]
