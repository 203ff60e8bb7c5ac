"""The training loop's pieces: stratified split, batch gathering and scaling, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from models import MLPClassifier
from models.network import Network
from models.optimizers import make_optimizer
from models.preprocessing import StandardScaler
from models.training import Batches, stratified_split, train


def test_stratified_split_is_disjoint_stratified_and_seeded():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    train, val = stratified_split(y, 0.1, np.random.default_rng(0))
    assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == 100
    assert np.bincount(y[val]).tolist() == [5, 3, 2]
    again, _ = stratified_split(y, 0.1, np.random.default_rng(0))
    np.testing.assert_array_equal(train, again)


def test_stratified_split_keeps_a_training_row_per_class():
    y = np.array([0, 1, 1, 1])
    train, val = stratified_split(y, 0.5, np.random.default_rng(0))
    assert set(y[train]) == {0, 1} and 0 not in y[val]
    train, val = stratified_split(y, 0.0, np.random.default_rng(0))
    assert len(train) == 4 and len(val) == 0


@pytest.mark.parametrize("source_dtype", [np.float32, np.float64])
def test_batches_cover_the_rows_once_scaled_in_the_compute_dtype(source_dtype):
    rng = np.random.default_rng(0)
    # an offset of 1e6 is only exact in float64 (float32's grid there is 0.0625 wide)
    offset = 1e6 if source_dtype == np.float64 else 1e3
    X = (rng.standard_normal((50, 3)) * [1.0, 5.0, 0.01] + [offset, -2.0, 3.0]).astype(source_dtype)
    y = np.arange(50) % 2
    rows = np.arange(5, 50)
    scaler = StandardScaler().fit(X, rows)
    batches = Batches(X, y, rows, scaler, batch_size=8, dtype=np.dtype(np.float32))
    scaled, labels = [], []
    for xb, yb in batches.epoch(rng):
        assert xb.dtype == np.float32 and len(xb) <= 8
        scaled.append(xb.copy())
        labels.append(yb)
    scaled, labels = np.vstack(scaled), np.concatenate(labels)
    assert scaled.shape == (45, 3)
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(scaled.std(axis=0), 1.0, rtol=1e-4)
    expected = scaler.transform(X[rows], np.float32)
    # each training row exactly once: match rows by their (unique) scaled values
    order = np.lexsort(scaled.T)
    np.testing.assert_allclose(scaled[order], expected[np.lexsort(expected.T)], rtol=1e-5,
                               atol=1e-5)
    seen = np.sort(labels)
    np.testing.assert_array_equal(seen, np.sort(y[rows]))


def test_float32_training_stays_float32():
    rng = np.random.default_rng(0)
    net = Network([6, 5, 3], "relu", "float32")
    net.initialize(rng)
    loss, n_correct = net.backprop(rng.standard_normal((4, 6)).astype(np.float32),
                                   np.array([0, 1, 2, 0]), l2=0.1)
    assert net.grad.dtype == np.float32 and net.params.dtype == np.float32
    assert net.feedforward(np.ones((2, 6), np.float32)).dtype == np.float32
    assert isinstance(loss, float) and 0 <= n_correct <= 4


def test_zero_hidden_layers_is_softmax_regression():
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    X = rng.standard_normal((60, 2)) + 4.0 * y[:, None]
    clf = MLPClassifier(hidden_layers=(), epochs=40, learning_rate=0.05).fit(X, y)
    assert clf.network_.sizes == [2, 3]
    assert np.mean(clf.predict(X) == y) > 0.9


@pytest.mark.parametrize("optimizer_name", ["adam", "momentum"])
def test_training_leaves_no_subnormal_weights_or_optimizer_state(optimizer_name):
    """Weights of an always-zero input get no gradient, so values planted in the subnormal
    range there (where weight decay and Adam's moments drive them) would stay: every epoch
    flushes them to zero, in the weights and in the optimiser's state."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.standard_normal((64, 3)), np.zeros(64)]).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    net = Network([4, 5, 2], "relu", "float32")
    net.initialize(rng)
    optimizer = make_optimizer(optimizer_name, [net.params], 0.01, momentum=0.9)
    tiny = np.finfo(np.float32).tiny
    for a in [net.params, *optimizer.state]:
        a[np.abs(a) < tiny] = tiny / 4  # every zero (biases, fresh state) becomes subnormal
        a[:5] = tiny / 8
    rows = np.arange(64)
    batches = Batches(X, y, rows, StandardScaler().fit(X, rows), batch_size=16,
                      dtype=np.dtype(np.float32))
    train(net, optimizer, batches, np.empty((0, 4), np.float32), np.empty(0, int), epochs=1,
          l2=0.0, early_stopping=False, patience=1, rng=rng)
    for a in [net.params, *optimizer.state]:
        assert not ((a != 0) & (np.abs(a) < tiny)).any()
    assert np.isfinite(net.params).all()
