"""Classification metrics of predicted class probabilities (numpy only).

``evaluate`` returns one plain, JSON-ready dict (the METRICS document of the service): accuracy,
balanced accuracy, log loss, macro-F1, one-vs-rest ROC AUC, Brier score, expected calibration
error, per-class precision/recall/F1/support/AUC, the confusion matrix and a 10-bin reliability
table. The definitions follow ``sklearn.metrics`` (the tests check them against it):

- the predicted class of a row is its most probable one (the first on a tie, as ``argmax``);
- precision, recall and F1 of a class with nothing to divide by are 0 (scikit-learn's
  ``zero_division=0``); macro-F1 averages over every class of the model;
- balanced accuracy is the mean recall over the classes present in ``y_true``;
- log loss clips probabilities to ``[eps, 1 - eps]``, ``eps`` the machine epsilon of the
  probabilities' dtype, and is computed in float64;
- ROC AUC of a class is its one-vs-rest area (tied scores count half, as the trapezoidal ROC
  curve does); it is None when ``y_true`` holds none or only rows of that class. The macro
  value is the mean of the per-class ones, None unless all of them are defined;
- Brier score is scikit-learn's ``brier_score_loss`` with ``scale_by_half="auto"``: the mean
  over rows of the sum over classes of ``(p - one_hot)**2``, halved for two classes (where it
  equals the mean squared error of the positive class's probability);
- calibration bins the top-class confidence into ``[i/10, (i+1)/10)`` (the last bin includes
  1); ECE is ``sum_b count_b / n * |accuracy_b - mean_confidence_b|``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

N_BINS = 10
#: Bin edges as exact decimals' nearest doubles (``linspace`` would make 0.3 a hair larger).
_EDGES = np.arange(N_BINS + 1) / N_BINS


class UnknownLabels(ValueError):
    """Labels of ``y_true`` that are not among the model's classes (in ``labels``)."""

    def __init__(self, labels: list[Any], classes: list[Any]) -> None:
        shown = ", ".join(map(repr, labels[:10])) + (", ..." if len(labels) > 10 else "")
        super().__init__(f"labels not among the model's classes {classes[:20]}: {shown}")
        self.labels = labels


def class_indices(y_true: ArrayLike, classes: Sequence[Any] | np.ndarray) -> np.ndarray:
    """The position in ``classes`` of each label.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels, each one of ``classes`` (an int label never matches a str class).
    classes : sequence of shape (n_classes,)

    Returns
    -------
    indices : ndarray of shape (n_samples,), int64

    Raises
    ------
    UnknownLabels
        Naming every label that is not a class.
    """
    names = np.asarray(classes).tolist()
    lookup = {(type(c) is str, c): i for i, c in enumerate(names)}
    values, inverse = np.unique(np.asarray(y_true), return_inverse=True)
    found = [lookup.get((type(v) is str, v)) for v in values.tolist()]
    unknown = [v for v, i in zip(values.tolist(), found, strict=True) if i is None]
    if unknown:
        raise UnknownLabels(unknown, names)
    return np.asarray(found, dtype=np.int64)[inverse.reshape(-1)]


def evaluate(y_true: ArrayLike, proba: ArrayLike, classes: Sequence[Any] | np.ndarray
             ) -> dict[str, Any]:
    """Every metric of ``proba`` against the true labels, as plain Python values.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, each one of ``classes``.
    proba : array-like of shape (n_samples, n_classes)
        Class probabilities (rows summing to 1), columns in ``classes`` order.
    classes : sequence of shape (n_classes,)
        The model's classes.

    Returns
    -------
    metrics : dict
        ``rows``, ``classes``, ``accuracy``, ``balanced_accuracy``, ``log_loss``, ``macro_f1``,
        ``roc_auc`` (or None), ``brier_score``, ``ece``, ``per_class`` (one dict per class:
        ``class``, ``precision``, ``recall``, ``f1``, ``support``, ``roc_auc``),
        ``confusion_matrix`` (n_classes × n_classes ints, rows the true class, columns the
        predicted one) and ``calibration`` (``N_BINS`` dicts: ``lower``, ``upper``, ``count``,
        ``mean_confidence`` and ``accuracy``, both None for an empty bin).

    Raises
    ------
    ValueError
        No rows, shapes that disagree, probabilities outside [0, 1] or not finite;
        ``UnknownLabels`` for labels that are not classes.
    """
    names = np.asarray(classes).tolist()
    P, y = _checked(proba, y_true, names)
    n, k = P.shape
    eps = float(np.finfo(P.dtype).eps)  # sklearn clips with the probabilities' own epsilon
    P = P.astype(np.float64, copy=False)
    pred = P.argmax(axis=1)
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    tp, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, support + predicted)
    aucs = [_roc_auc(P[:, c], y == c) for c in range(k)]
    rows = np.arange(n)
    true_p = np.clip(P[rows, y], eps, 1 - eps)
    one_hot = np.zeros_like(P)
    one_hot[rows, y] = 1.0
    brier = float(np.mean(np.sum((one_hot - P) ** 2, axis=1)))
    calibration, ece = _calibration(P[rows, pred], pred == y)
    return {
        "rows": n,
        "classes": names,
        "accuracy": float(tp.sum() / n),
        "balanced_accuracy": float(recall[support > 0].mean()),
        "log_loss": float(-np.mean(np.log(true_p))),
        "macro_f1": float(f1.mean()),
        "roc_auc": None if None in aucs else float(np.mean(np.asarray(aucs, dtype=float))),
        "brier_score": brier / 2 if k == 2 else brier,
        "ece": ece,
        "per_class": [{"class": names[c], "precision": float(precision[c]),
                       "recall": float(recall[c]), "f1": float(f1[c]),
                       "support": int(support[c]), "roc_auc": aucs[c]} for c in range(k)],
        "confusion_matrix": cm.tolist(),
        "calibration": calibration,
    }


def _checked(proba: ArrayLike, y_true: ArrayLike, names: list[Any]
             ) -> tuple[np.ndarray, np.ndarray]:
    P = np.asarray(proba)
    if P.dtype.kind != "f":
        P = P.astype(np.float64)
    if P.ndim != 2 or P.shape[1] != len(names):
        raise ValueError(f"proba must have shape (n_samples, {len(names)}), got {P.shape}")
    if P.shape[0] == 0:
        raise ValueError("no rows to evaluate")
    if not np.isfinite(P).all() or P.min() < 0 or P.max() > 1:
        raise ValueError("proba must hold probabilities: finite, in [0, 1]")
    labels = np.asarray(y_true)
    if labels.ndim != 1 or labels.shape[0] != P.shape[0]:
        raise ValueError(f"y_true must have shape ({P.shape[0]},), got {labels.shape}")
    return P, class_indices(labels, names)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, 0 where ``den`` is 0."""
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """One-vs-rest ROC AUC as the Mann-Whitney statistic with mid-ranks for ties.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
    positive : ndarray of shape (n_samples,), bool

    Returns
    -------
    auc : float, or None when every row is positive or none is
    """
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mid_ranks = ends - (counts - 1) / 2.0  # 1-based rank of a tied group's middle
    rank_sum = mid_ranks[inverse.reshape(-1)][positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _calibration(confidence: np.ndarray, correct: np.ndarray
                 ) -> tuple[list[dict[str, Any]], float]:
    """Reliability table of the top-class confidence, and the expected calibration error.

    Parameters
    ----------
    confidence : ndarray of shape (n_samples,)
        The predicted class's probability.
    correct : ndarray of shape (n_samples,), bool
        Whether the predicted class is the true one.
    """
    bins = np.clip(np.searchsorted(_EDGES, confidence, side="right") - 1, 0, N_BINS - 1)
    count = np.bincount(bins, minlength=N_BINS)
    conf_sum = np.bincount(bins, weights=confidence, minlength=N_BINS)
    hit_sum = np.bincount(bins, weights=correct.astype(np.float64), minlength=N_BINS)
    ece = float(np.abs(hit_sum - conf_sum).sum() / confidence.size)
    table = [{"lower": float(_EDGES[b]), "upper": float(_EDGES[b + 1]), "count": int(count[b]),
              "mean_confidence": float(conf_sum[b] / count[b]) if count[b] else None,
              "accuracy": float(hit_sum[b] / count[b]) if count[b] else None}
             for b in range(N_BINS)]
    return table, ece
