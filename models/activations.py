"""Activation functions, their derivatives and the log loss, as lookup tables of in-place functions.

Every function here overwrites its argument and returns it, so the network can run whole
layers inside preallocated buffers. Derivatives are written in terms of the layer *output*
(``Z = f(pre-activation)``), which is all that backpropagation keeps around, the way
scikit-learn's ``neural_network/_base.py`` does it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ArrayFn = Callable[[np.ndarray], np.ndarray]
DerivativeFn = Callable[[np.ndarray, np.ndarray], None]


_ZEROS: dict[np.dtype, np.ndarray] = {}
_ZEROS_MAX = 1 << 20  # elements of zeros kept per dtype: 4 MiB of float32


def _zeros_like(X: np.ndarray) -> np.ndarray:
    """A read-only array of zeros with ``X``'s shape and dtype, cut from one cached buffer."""
    zeros = _ZEROS.get(X.dtype)
    if zeros is None or zeros.size < X.size:
        zeros = np.zeros(X.size, dtype=X.dtype)
        zeros.flags.writeable = False
        _ZEROS[X.dtype] = zeros
    return zeros[:X.size].reshape(X.shape)


def relu(X: np.ndarray) -> np.ndarray:
    """Rectified linear unit, ``max(x, 0)``, in place.

    Compared against an array of zeros: numpy's ``maximum`` with a scalar operand takes a
    loop about three times slower than with two arrays. (Arrays beyond ``_ZEROS_MAX`` elements
    use the scalar, so that no process keeps its largest batch's worth of zeros.)

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_units)
        Pre-activations, overwritten with the activations.

    Returns
    -------
    X : ndarray of shape (n_samples, n_units)
    """
    if X.size > _ZEROS_MAX:
        return np.maximum(X, 0, out=X)
    return np.maximum(X, _zeros_like(X), out=X)


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

    From 8 rows on, works on a transposed copy, so the per-row max and sum reduce over
    contiguous memory (several times faster than reducing numpy's short inner axis for a few
    classes); a few rows, as a served request often has, are cheaper without the two copies.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_classes)
        Logits, overwritten with probabilities; every row sums to 1.

    Returns
    -------
    X : ndarray of shape (n_samples, n_classes)
    """
    if X.shape[0] < 8:
        X -= np.maximum.reduce(X, axis=1, keepdims=True)
        np.exp(X, out=X)
        X /= np.add.reduce(X, axis=1, keepdims=True)
        return X
    T = np.ascontiguousarray(X.T)
    T -= np.maximum.reduce(T, axis=0)    # the ufunc reductions: .max/.sum add a Python layer
    np.exp(T, out=T)
    T /= np.add.reduce(T, axis=0)
    X[...] = T.T
    return X


def true_class_positions(y: np.ndarray, arange: np.ndarray | None = None) -> np.ndarray:
    """Flat positions of each sample's true class in a (n_classes, n_samples) array.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class indices.
    arange : ndarray of shape (n_samples,), optional
        ``np.arange(n_samples)``, when the caller keeps one.

    Returns
    -------
    positions : ndarray of shape (n_samples,)
        ``y * n_samples + arange(n_samples)``, for ``Zt.reshape(-1)[positions]``.
    """
    n = y.shape[0]
    return y * n + (np.arange(n) if arange is None else arange)


def softmax_cross_entropy(Zt: np.ndarray, true: np.ndarray) -> tuple[float, int]:
    """Softmax of transposed logits in place, plus the mean cross-entropy and the number of hits.

    Training keeps the output layer transposed, one column per sample (``W^T @ A^T`` is the same
    BLAS product as ``A @ W``), so the per-sample max and sum reduce over contiguous rows and
    no copy is made in either direction; the output error is then formed in the same array.
    The loss comes from the shifted logits by log-sum-exp, ``log(sum(exp(z - max))) -
    (z_y - max)``, so it is exact, finite and >= 0 without any clipping. A sample counts as a
    hit when its true class holds the maximum logit.

    Parameters
    ----------
    Zt : ndarray of shape (n_classes, n_samples), C-contiguous
        Logits, overwritten with probabilities; every column sums to 1.
    true : ndarray of shape (n_samples,)
        ``true_class_positions(y)``: where each sample's true class sits in ``Zt.reshape(-1)``.

    Returns
    -------
    loss : float
        Mean cross-entropy.
    n_correct : int
        Samples whose true class has the largest logit.
    """
    n = Zt.shape[1]
    Zt -= np.maximum.reduce(Zt, axis=0)    # the ufunc reductions: .max/.sum add a Python layer
    true_shifted = Zt.reshape(-1)[true]    # z_y - max, <= 0; == 0 where y has the max
    np.exp(Zt, out=Zt)
    sums = np.add.reduce(Zt, axis=0)
    Zt /= sums
    np.log(sums, out=sums)
    sums -= true_shifted                   # each sample's loss
    loss = float(np.add.reduce(sums, dtype=np.float64)) / max(n, 1)
    return loss, n - int(np.count_nonzero(true_shifted))


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
