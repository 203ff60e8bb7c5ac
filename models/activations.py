"""Activation functions, their derivatives and the log loss, as lookup tables of in-place functions.

Every function here overwrites its argument and returns it, so a layer's output takes the place
of its pre-activation instead of a second array. Derivatives are written in terms of the layer
*output* (``Z = f(pre-activation)``), which is all that backpropagation keeps around, the way
scikit-learn's ``neural_network/_base.py`` does it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ArrayFn = Callable[[np.ndarray], np.ndarray]
DerivativeFn = Callable[[np.ndarray, np.ndarray], None]


def relu(X: np.ndarray) -> np.ndarray:
    """Rectified linear unit, ``max(x, 0)``, in place.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_units)
        Pre-activations, overwritten with the activations.

    Returns
    -------
    X : ndarray of shape (n_samples, n_units)
    """
    return np.maximum(X, 0, out=X)


def sigmoid(X: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))``, in place.

    Computed as ``(1 + tanh(x / 2)) / 2``, which is the same function but never evaluates
    ``exp`` of a large number, so it cannot overflow for any finite input.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_units)
        Pre-activations, overwritten with the activations in [0, 1].

    Returns
    -------
    X : ndarray of shape (n_samples, n_units)
    """
    X *= 0.5
    np.tanh(X, out=X)
    X += 1.0
    X *= 0.5
    return X


def tanh(X: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, in place.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_units)
        Pre-activations, overwritten with the activations in [-1, 1].

    Returns
    -------
    X : ndarray of shape (n_samples, n_units)
    """
    return np.tanh(X, out=X)


def step(X: np.ndarray) -> np.ndarray:
    """Heaviside step, 1 where ``x > 0`` else 0, in place.

    Its derivative is zero almost everywhere, so a network with step units cannot be trained
    by gradient descent; it exists for hand-built inference demos (see ``DERIVATIVES``).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_units)
        Pre-activations, overwritten with 0.0 or 1.0.

    Returns
    -------
    X : ndarray of shape (n_samples, n_units)
    """
    return np.heaviside(X, 0.0, out=X)


def softmax(X: np.ndarray) -> np.ndarray:
    """Row-wise softmax, in place, shifted by each row's maximum so ``exp`` never overflows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_classes)
        Logits, overwritten with probabilities; every row sums to 1.

    Returns
    -------
    X : ndarray of shape (n_samples, n_classes)
    """
    X -= X.max(axis=1, keepdims=True)
    np.exp(X, out=X)
    X /= X.sum(axis=1, keepdims=True)
    return X


def softmax_cross_entropy(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Softmax of logits in place, with the mean cross-entropy and the number of hits.

    The loss comes from the shifted logits by log-sum-exp, ``log(sum(exp(z - max))) -
    (z_y - max)``, so it is exact, finite and >= 0 without the clipping ``log_loss`` needs. A
    sample counts as a hit when its true class holds the maximum logit.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_classes)
        Logits, overwritten with probabilities; every row sums to 1.
    y : ndarray of shape (n_samples,)
        Class indices.

    Returns
    -------
    probs : ndarray of shape (n_samples, n_classes)
        ``Z`` itself.
    loss : float
        Mean cross-entropy.
    n_correct : int
        Samples whose true class has the largest logit.
    """
    n = Z.shape[0]
    Z -= Z.max(axis=1, keepdims=True)
    true_shifted = Z[np.arange(n), y]      # z_y - max, <= 0; == 0 where y has the max
    np.exp(Z, out=Z)
    sums = Z.sum(axis=1, keepdims=True)
    Z /= sums
    losses = np.log(sums[:, 0]) - true_shifted
    loss = float(losses.sum(dtype=np.float64)) / max(n, 1)
    return Z, loss, n - int(np.count_nonzero(true_shifted))


def relu_derivative(Z: np.ndarray, delta: np.ndarray) -> None:
    """Multiply ``delta`` by the relu derivative at output ``Z`` (0 where ``Z == 0``), in place.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_units)
        Outputs of the relu layer.
    delta : ndarray of shape (n_samples, n_units)
        Error arriving from the layer above; modified in place.
    """
    np.multiply(delta, Z > 0, out=delta)


def sigmoid_derivative(Z: np.ndarray, delta: np.ndarray) -> None:
    """Multiply ``delta`` by ``Z * (1 - Z)``, the sigmoid derivative at output ``Z``, in place.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_units)
        Outputs of the sigmoid layer.
    delta : ndarray of shape (n_samples, n_units)
        Error arriving from the layer above; modified in place.
    """
    delta *= Z
    delta *= 1.0 - Z


def tanh_derivative(Z: np.ndarray, delta: np.ndarray) -> None:
    """Multiply ``delta`` by ``1 - Z**2``, the tanh derivative at output ``Z``, in place.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_units)
        Outputs of the tanh layer.
    delta : ndarray of shape (n_samples, n_units)
        Error arriving from the layer above; modified in place.
    """
    delta *= 1.0 - Z * Z


#: Activations by name: softmax is the output layer's, ``step`` is inference-only (no derivative).
ACTIVATIONS: dict[str, ArrayFn] = {
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "step": step,
    "softmax": softmax,
}

#: Derivatives by activation name; an activation missing here cannot be trained.
DERIVATIVES: dict[str, DerivativeFn] = {
    "relu": relu_derivative,
    "sigmoid": sigmoid_derivative,
    "tanh": tanh_derivative,
}


def log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean cross-entropy of integer targets under predicted class probabilities.

    Probabilities are clipped at the dtype's machine epsilon, so a confidently wrong
    prediction costs at most ``-log(eps)`` (about 36 in float64, 16 in float32) instead of inf.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class indices in ``[0, n_classes)``.
    probs : ndarray of shape (n_samples, n_classes)
        Predicted probabilities, rows summing to 1.

    Returns
    -------
    loss : float
        ``-mean(log(probs[i, y[i]]))``, always >= 0.
    """
    n = probs.shape[0]
    if n == 0:
        return 0.0
    p = probs[np.arange(n), y]
    np.clip(p, np.finfo(probs.dtype).eps, 1.0, out=p)
    np.log(p, out=p)
    return -float(p.sum(dtype=np.float64)) / n
