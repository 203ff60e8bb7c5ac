"""Compare two models on the same labelled rows: both scores, the improvement and a paired
bootstrap interval of it (numpy only).

Both models' probabilities are first put on one set of classes (the union of theirs, sorted;
a class a model does not have gets probability 0 from it). The bootstrap resamples the rows
with replacement, the same rows for both models, so what the two share (easy and hard rows)
cancels out of the difference. The improvement is ``candidate - current`` for metrics where
higher is better and ``current - candidate`` where lower is better, so a positive improvement
always favours the candidate. The interval is the 2.5th and 97.5th percentile of the resampled
improvements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics import class_indices, evaluate

LOWER_IS_BETTER = frozenset({"log_loss", "brier_score", "ece"})
METRICS = ("accuracy", "balanced_accuracy", "log_loss", "macro_f1", "roc_auc", "brier_score",
           "ece")
N_RESAMPLES = 1000
_CHUNK = 50  # resamples drawn at once for the per-row metrics


def align(proba: np.ndarray, classes: Sequence[Any], union: Sequence[Any]) -> np.ndarray:
    """``proba`` (n, len(classes)) as (n, len(union)) columns, 0 for classes it lacks."""
    out = np.zeros((proba.shape[0], len(union)), dtype=np.float64)
    at = {c: j for j, c in enumerate(union)}
    out[:, [at[c] for c in classes]] = proba
    return out


def _per_row(metric: str, y: np.ndarray, P: np.ndarray) -> np.ndarray | None:
    """Each row's share of a metric that is a mean over rows (None for the others)."""
    rows = np.arange(len(y))
    if metric == "accuracy":
        return (P.argmax(axis=1) == y).astype(np.float64)
    if metric == "log_loss":
        eps = float(np.finfo(np.float64).eps)
        return -np.log(np.clip(P[rows, y], eps, 1 - eps))
    if metric == "brier_score":
        one_hot = np.zeros_like(P)
        one_hot[rows, y] = 1.0
        return np.sum((one_hot - P) ** 2, axis=1) / (2 if P.shape[1] == 2 else 1)
    return None


def compare(y_true: Any, candidate: np.ndarray, current: np.ndarray, classes: Sequence[Any],
            metric: str, rng: np.random.Generator, n_resamples: int = N_RESAMPLES
            ) -> dict[str, Any]:
    """Score both models on the rows and bootstrap the improvement.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, each one of ``classes``.
    candidate, current : ndarray of shape (n_samples, n_classes)
        Probabilities of the two models, columns in ``classes`` order (see ``align``).
    classes : sequence of shape (n_classes,)
    metric : one of ``METRICS``
    rng : numpy.random.Generator
        Draws the resamples.
    n_resamples : int

    Returns
    -------
    dict
        ``metric``, ``higher_is_better``, ``candidate`` and ``current`` (the scores, None when
        the metric is undefined on these rows), ``improvement`` (None likewise),
        ``interval`` ([low, high] or None), ``resamples`` (those where the metric was
        defined) and ``rows``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    ours, theirs = evaluate(y_true, candidate, classes)[metric], \
        evaluate(y_true, current, classes)[metric]
    out: dict[str, Any] = {"metric": metric, "higher_is_better": sign > 0, "candidate": ours,
                           "current": theirs, "improvement": None, "interval": None,
                           "resamples": 0, "rows": int(len(candidate))}
    if ours is None or theirs is None:
        return out
    out["improvement"] = sign * (ours - theirs)
    diffs = _bootstrap(metric, class_indices(y_true, classes), candidate, current, classes,
                       rng, n_resamples)
    if diffs.size:
        low, high = np.percentile(sign * diffs, [2.5, 97.5])
        out["interval"] = [float(low), float(high)]
    out["resamples"] = int(diffs.size)
    return out


def _bootstrap(metric: str, y: np.ndarray, A: np.ndarray, B: np.ndarray,
               classes: Sequence[Any], rng: np.random.Generator, n_resamples: int
               ) -> np.ndarray:
    """``metric(A) - metric(B)`` on ``n_resamples`` paired resamples of the rows."""
    n = len(y)
    a, b = _per_row(metric, y, A), _per_row(metric, y, B)
    if a is not None and b is not None:
        d = a - b  # a mean over rows: the difference of means is the mean of differences
        parts, left = [], n_resamples
        while left:
            take = min(left, _CHUNK)
            parts.append(d[rng.integers(0, n, (take, n))].mean(axis=1))
            left -= take
        return np.concatenate(parts)
    labels = np.asarray(classes)[y]
    diffs = []
    for _ in range(n_resamples):
        rows = rng.integers(0, n, n)
        mine = evaluate(labels[rows], A[rows], classes)[metric]
        other = evaluate(labels[rows], B[rows], classes)[metric]
        if mine is not None and other is not None:
            diffs.append(mine - other)
    return np.asarray(diffs, dtype=np.float64)
