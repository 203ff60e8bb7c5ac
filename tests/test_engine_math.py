"""Engine maths: activations, loss, gradients (central differences), optimiser steps by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models.activations import (
    ACTIVATIONS,
    DERIVATIVES,
    log_loss,
    softmax,
    softmax_cross_entropy,
)
from models.network import Network
from models.optimizers import SGD, Adam
from models.preprocessing import LabelEncoder, StandardScaler

TRAINABLE = ["sigmoid", "relu", "tanh"]


def _logits(max_rows: int = 20, max_cols: int = 8, bound: float = 1e4):
    shape = st.tuples(st.integers(1, max_rows), st.integers(1, max_cols))
    return arrays(np.float64, shape, elements=st.floats(-bound, bound, allow_nan=False))


@settings(max_examples=50, deadline=None)
@given(_logits())
def test_softmax_rows_sum_to_one_and_stay_finite(Z):
    P = softmax(Z.copy())
    assert np.all(np.isfinite(P))
    assert np.all(P >= 0) and np.all(P <= 1)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)


def test_softmax_of_a_few_rows_matches_the_batched_form():
    Z = np.random.default_rng(0).normal(scale=30, size=(16, 10))
    batched = softmax(Z.copy())
    for i in range(len(Z)):
        np.testing.assert_allclose(softmax(Z[i:i + 1].copy()), batched[i:i + 1], rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(_logits(), st.data())
def test_log_loss_is_non_negative_and_finite(Z, data):
    y = data.draw(arrays(np.int64, Z.shape[0], elements=st.integers(0, Z.shape[1] - 1)))
    for dtype in (np.float64, np.float32):
        loss = log_loss(y, softmax(Z.astype(dtype)))
        assert math.isfinite(loss) and loss >= 0


@settings(max_examples=50, deadline=None)
@given(_logits(), st.data())
def test_softmax_cross_entropy_agrees_with_softmax_and_log_loss(Z, data):
    y = data.draw(arrays(np.int64, Z.shape[0], elements=st.integers(0, Z.shape[1] - 1)))
    P, loss, n_correct = softmax_cross_entropy(Z.copy(), y)
    np.testing.assert_allclose(P, softmax(Z.copy()), rtol=1e-12, atol=1e-300)
    assert math.isfinite(loss) and loss >= 0
    assert n_correct == np.count_nonzero(Z[np.arange(len(y)), y] == Z.max(axis=1))
    if P[np.arange(len(y)), y].min() > 1e-12:     # where clipping does not kick in
        assert loss == pytest.approx(log_loss(y, P), rel=1e-9, abs=1e-12)


def test_log_loss_values():
    P = np.array([[0.25, 0.75], [1.0, 0.0]])
    assert log_loss(np.array([1, 0]), P) == pytest.approx(-math.log(0.75) / 2)
    # a certain mistake costs -log(eps), not inf
    assert log_loss(np.array([1]), P[1:]) == pytest.approx(-math.log(np.finfo(np.float64).eps))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "step", "softmax"])
def test_activations_are_in_place_and_overflow_free(name):
    X = np.array([[-1e6, -3.0, 0.0, 2.0, 1e6]], dtype=np.float32)
    out = ACTIVATIONS[name](X)
    assert out is X and np.all(np.isfinite(X))


def test_activation_values():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(ACTIVATIONS["relu"](x.copy()), [[0, 0, 3]])
    np.testing.assert_allclose(ACTIVATIONS["sigmoid"](x.copy()), 1 / (1 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(ACTIVATIONS["tanh"](x.copy()), np.tanh(x))
    np.testing.assert_allclose(ACTIVATIONS["step"](x.copy()), [[0, 0, 1]])
    assert "step" not in DERIVATIVES



def test_relu_matches_maximum_for_every_shape_and_dtype_in_turn():
    # growing, shrinking and switching dtype must not change the answers
    rng = np.random.default_rng(0)
    for shape, dtype in [((3, 4), np.float32), ((50, 7), np.float32), ((2, 2), np.float32),
                         ((9, 5), np.float64), ((1, 1), np.float64), (8, np.float32)]:
        X = rng.standard_normal(shape).astype(dtype)
        expected = np.maximum(X, 0)
        out = ACTIVATIONS["relu"](X)
        assert out is X and out.dtype == dtype
        np.testing.assert_array_equal(X, expected)
    X = -np.ones((2, 3), np.float32)
    ACTIVATIONS["relu"](X[:, ::2])                 # a strided view, in place
    np.testing.assert_array_equal(X, [[0, -1, 0], [0, -1, 0]])


def _numeric_gradient(net, theta, X, y, l2, h=1e-6):
    grad = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        plus, _ = net.loss_and_gradient(theta + e, X, y, l2)
        minus, _ = net.loss_and_gradient(theta - e, X, y, l2)
        grad[i] = (plus - minus) / (2 * h)
    return grad


@pytest.mark.parametrize("activation", TRAINABLE)
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_backprop_matches_central_differences(activation, l2):
    rng = np.random.default_rng(42)
    net = Network([5, 6, 4, 3], activation, "float64")          # 2 hidden layers, 3 classes
    X = rng.standard_normal((7, 5))
    y = np.array([0, 1, 2, 0, 1, 2, 1])
    # random weights *and* biases, so no relu pre-activation sits exactly on its kink
    theta = rng.standard_normal(net.params.size) * 0.5
    loss, grad = net.loss_and_gradient(theta, X, y, l2)
    numeric = _numeric_gradient(net, theta, X, y, l2)
    rel = np.abs(grad - numeric) / np.maximum(np.abs(grad) + np.abs(numeric), 1e-8)
    assert rel.max() < 1e-6
    assert loss > 0


def test_one_sgd_step_by_hand():
    """2 inputs -> 2 relu units -> 2 classes, one sample, lr 0.1, worked out on paper."""
    net = Network([2, 2, 2], "relu", "float64")
    net.weights[0][...] = [[0.1, 0.2], [0.3, -0.4]]
    net.biases[0][...] = [0.0, 0.1]
    net.weights[1][...] = [[0.5, -0.5], [0.2, 0.3]]
    net.biases[1][...] = [0.0, 0.0]
    x, y = np.array([[1.0, 2.0]]), np.array([1])

    # forward: z1 = x W1 + b1 = [0.1 + 0.6, 0.2 - 0.8 + 0.1] = [0.7, -0.5]; a1 = relu = [0.7, 0]
    # z2 = a1 W2 = [0.35, -0.35]; p = softmax(z2), so p1 = 1 / (1 + e^0.7), p0 = 1 - p1
    p1 = 1.0 / (1.0 + math.exp(0.7))
    p0 = 1.0 - p1
    # backward: delta2 = p - onehot(1) = [p0, -p0]
    # dW2 = a1^T delta2 = [[0.7 p0, -0.7 p0], [0, 0]], db2 = [p0, -p0]
    # delta1 = (delta2 W2^T) * relu'(z1) = [0.5 p0 + 0.5 p0, 0.2 p0 - 0.3 p0] * [1, 0] = [p0, 0]
    # dW1 = x^T delta1 = [[p0, 0], [2 p0, 0]], db1 = [p0, 0]
    opt = SGD([net.params], learning_rate=0.1, momentum=0.0)
    loss, _ = net.backprop(x, y)
    assert loss == pytest.approx(-math.log(p1), rel=1e-12)

    opt.update([net.params], [net.grad])
    lr = 0.1
    np.testing.assert_allclose(net.weights[0], [[0.1 - lr * p0, 0.2], [0.3 - lr * 2 * p0, -0.4]],
                               rtol=1e-12)
    np.testing.assert_allclose(net.biases[0], [0.0 - lr * p0, 0.1], rtol=1e-12)
    np.testing.assert_allclose(net.weights[1], [[0.5 - lr * 0.7 * p0, -0.5 + lr * 0.7 * p0],
                                                [0.2, 0.3]], rtol=1e-12)
    np.testing.assert_allclose(net.biases[1], [-lr * p0, lr * p0], rtol=1e-12)


def test_l2_adds_decay_to_weights_only():
    rng = np.random.default_rng(0)
    net = Network([3, 4, 2], "tanh", "float64")
    theta = rng.standard_normal(net.params.size)
    X, y = rng.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    loss0, g0 = net.loss_and_gradient(theta, X, y, 0.0)
    loss1, g1 = net.loss_and_gradient(theta, X, y, 0.5)
    w = theta[:net.n_weights]
    assert loss1 == pytest.approx(loss0 + 0.25 * np.dot(w, w))
    np.testing.assert_allclose(g1[:net.n_weights], g0[:net.n_weights] + 0.5 * w)
    np.testing.assert_array_equal(g1[net.n_weights:], g0[net.n_weights:])


def _textbook_adam(p, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


def test_adam_matches_the_textbook_update():
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(50)
    grads = [rng.standard_normal(50) * 10.0**k for k in (-3, -1, 0, 1, 2)]
    p = p0.copy()
    opt = Adam([p], learning_rate=0.01)
    for g in grads:
        opt.update([p], [g])
    np.testing.assert_allclose(p, _textbook_adam(p0, grads, 0.01), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("beta1", [0.9, 0.5, 0.0])
def test_adam_stays_textbook_over_many_steps(beta1):
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(40)
    grads = [rng.standard_normal(40) * 10.0 ** rng.uniform(-4, 2) for _ in range(300)]
    p, opt = p0.copy(), Adam([p0], learning_rate=0.01, beta1=beta1)
    for g in grads:
        opt.update([p], [g])
    np.testing.assert_allclose(p, _textbook_adam(p0, grads, 0.01, b1=beta1), rtol=1e-9, atol=1e-12)


def test_optimizers_leave_the_gradients_as_they_are():
    rng = np.random.default_rng(4)
    for make in (lambda p: SGD(p, 0.1), lambda p: SGD(p, 0.1, momentum=0.9, nesterov=True),
                 lambda p: Adam(p, 0.01)):
        p, g = rng.standard_normal(30), rng.standard_normal(30)
        kept = g.copy()
        make([p]).update([p], [g])
        np.testing.assert_array_equal(g, kept)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_sgd_matches_reference(nesterov):
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal(20)
    grads = [rng.standard_normal(20) for _ in range(4)]
    p, opt = p0.copy(), SGD([p0], learning_rate=0.1, momentum=0.9, nesterov=nesterov)
    for g in grads:
        opt.update([p], [g])
    ref, v = p0.copy(), np.zeros(20)
    for g in grads:
        v = 0.9 * v - 0.1 * g
        ref = ref + (0.9 * v - 0.1 * g if nesterov else v)
    np.testing.assert_allclose(p, ref, rtol=1e-12)


@pytest.mark.parametrize("offset", [0.0, 0.5, 1e4])       # summed in place / shifted first
@pytest.mark.parametrize("use_rows", [False, True])
def test_scaler_statistics_match_float64_on_every_path(offset, use_rows):
    rng = np.random.default_rng(5)
    X = (rng.standard_normal((3000, 7)) * [1, 2, 3, 0.5, 1, 1, 1] + offset).astype(np.float32)
    rows = np.sort(rng.choice(3000, 2000, replace=False)) if use_rows else None
    part = (X if rows is None else X[rows]).astype(np.float64)
    scaler = StandardScaler().fit(X, rows)
    np.testing.assert_allclose(scaler.mean_, part.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(scaler.scale_, part.std(axis=0), rtol=1e-5)


def test_scaler_handles_constant_and_huge_columns():
    X = np.array([[1e6, 5.0, 1.0], [1e6 + 2, 5.0, 3.0], [1e6 + 4, 5.0, 5.0]])
    scaler = StandardScaler().fit(X)
    np.testing.assert_allclose(scaler.scale_[1], 1.0)
    Z = scaler.transform(X, np.float32)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z[:, 1], 0.0)
    np.testing.assert_allclose(Z[:, 0], Z[:, 2], rtol=1e-6)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-6)


@pytest.mark.parametrize(("labels", "kind", "dtype_kind"), [
    ([3, 1, 3, 2], "int", "i"),
    (np.array([3.0, 1.0, 2.0]), "int", "i"),
    (["b", "a", "b"], "str", "U"),
    (np.array(["x", "y"], dtype=object), "str", "U"),
])
def test_label_encoder_keeps_label_kind(labels, kind, dtype_kind):
    enc = LabelEncoder()
    idx = enc.fit_transform(labels)
    assert enc.kind == kind and enc.classes_.dtype.kind == dtype_kind
    assert list(enc.inverse_transform(idx)) == list(np.asarray(labels).astype(enc.classes_.dtype))


@pytest.mark.parametrize("labels", [[1.5, 2.0], [[1, 2]], np.array([1, None], dtype=object)])
def test_label_encoder_rejects_non_labels(labels):
    with pytest.raises(ValueError):
        LabelEncoder().fit_transform(labels)
