"""models.compare: both scores, the improvement's sign and its paired bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest

from models.compare import METRICS, align, compare
from models.metrics import evaluate


def _probas(n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    good = rng.dirichlet([1, 1, 1], n) * 0.3
    good[np.arange(n), y] += 0.7
    bad = rng.dirichlet([1, 1, 1], n)
    return y, good, bad


@pytest.mark.parametrize("metric", METRICS)
def test_a_better_model_has_a_positive_improvement_and_interval(metric):
    y, good, bad = _probas()
    out = compare(y, good, bad, [0, 1, 2], metric, np.random.default_rng(0), n_resamples=200)
    assert out["candidate"] == evaluate(y, good, [0, 1, 2])[metric]
    assert out["current"] == evaluate(y, bad, [0, 1, 2])[metric]
    assert out["improvement"] > 0 and out["interval"][0] > 0, out
    assert out["interval"][0] <= out["improvement"] <= out["interval"][1]
    assert out["higher_is_better"] == (metric not in ("log_loss", "brier_score", "ece"))
    worse = compare(y, bad, good, [0, 1, 2], metric, np.random.default_rng(0), n_resamples=200)
    assert worse["improvement"] == pytest.approx(-out["improvement"])


def test_the_same_model_improves_by_zero_and_the_bootstrap_is_seeded():
    y, good, _ = _probas()
    out = compare(y, good, good, [0, 1, 2], "accuracy", np.random.default_rng(1))
    assert out["improvement"] == 0 and out["interval"] == [0.0, 0.0]
    y, good, bad = _probas(60)
    a, b = (compare(y, good, bad, [0, 1, 2], "log_loss", np.random.default_rng(7))
            for _ in range(2))
    assert a == b and a["resamples"] == 1000


def test_align_gives_zero_probability_to_classes_a_model_lacks():
    out = align(np.array([[0.25, 0.75]]), ["a", "c"], ["a", "b", "c"])
    np.testing.assert_array_equal(out, [[0.25, 0.0, 0.75]])
