"""A fully connected network: dense layers ``a @ W + b``, hidden activations, softmax output.

In the spirit of Nielsen's ``network.py`` and scikit-learn's ``_backprop``: parallel lists
``weights`` / ``biases``, a short feedforward, and a backprop that keeps every layer's output on
the way up and walks the layers backwards on the way down.

All parameters live in one flat vector ``params`` (every layer's weights first, then every
layer's biases) and ``weights[i]`` / ``biases[i]`` are views into it; the gradient vector
``grad`` has the same layout. An optimiser therefore updates one array per step, L2 decay is
one operation on the weight block, early stopping snapshots one array, and a gradient check can
perturb ``params`` directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from .activations import ACTIVATIONS, DERIVATIVES, softmax_cross_entropy


def _layer_views(flat: np.ndarray, sizes: Sequence[int]
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Split ``flat`` into weight matrices (fan_in, fan_out) and bias vectors (fan_out,)."""
    weights, biases, offset = [], [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        weights.append(flat[offset:offset + fan_in * fan_out].reshape(fan_in, fan_out))
        offset += fan_in * fan_out
    for fan_out in sizes[1:]:
        biases.append(flat[offset:offset + fan_out])
        offset += fan_out
    return weights, biases


class Network:
    """Dense layers of sizes ``sizes``; hidden layers use ``activation``, the output softmax.

    Parameters
    ----------
    sizes : sequence of int
        ``[n_features, hidden_1, ..., n_classes]``.
    activation : str
        Key of ``ACTIVATIONS`` for the hidden layers.
    dtype : str or numpy dtype
        Compute dtype (float32 or float64).

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        All weights then all biases.
    weights : list of ndarray of shape (fan_in, fan_out)
        Views into ``params``.
    biases : list of ndarray of shape (fan_out,)
        Views into ``params``.
    grad : ndarray of shape (n_params,)
        Gradient of the last ``backprop``, laid out like ``params``.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu",
                 dtype: DTypeLike = np.float32) -> None:
        self.sizes = [int(s) for s in sizes]
        self.activation = activation
        self.dtype = np.dtype(dtype)
        shapes = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        self.n_weights = sum(a * b for a, b in shapes)
        n_params = self.n_weights + sum(self.sizes[1:])
        self.params = np.zeros(n_params, dtype=self.dtype)
        self.grad = np.zeros(n_params, dtype=self.dtype)
        self.weights, self.biases = _layer_views(self.params, self.sizes)
        self.weight_grads, self.bias_grads = _layer_views(self.grad, self.sizes)
        self._activations = [ACTIVATIONS[self.layer_activation(i)] for i in range(self.n_layers)]

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + output layer)."""
        return len(self.weights)

    def initialize(self, rng: np.random.Generator) -> None:
        """Draw fresh weights from ``rng``; biases start at zero.

        Each layer by its activation: relu layers get He normal weights (std
        ``sqrt(2 / fan_in)``, the 2 making up for the half of the units relu zeroes), sigmoid and
        tanh layers Glorot/Xavier uniform ones (``±sqrt(6 / (fan_in + fan_out))``). The softmax
        layer of a relu network gets LeCun normal weights (std ``sqrt(1 / fan_in)``): its
        logits pass through no relu, and He's doubled variance made the first epochs' logits
        overconfident.
        """
        for layer, W in enumerate(self.weights):
            fan_in, fan_out = W.shape
            if self.layer_activation(layer) == "relu":
                W[...] = rng.standard_normal(W.shape) * np.sqrt(2.0 / fan_in)
            elif self.activation == "relu":
                W[...] = rng.standard_normal(W.shape) * np.sqrt(1.0 / fan_in)
            else:
                bound = np.sqrt(6.0 / (fan_in + fan_out))
                W[...] = rng.uniform(-bound, bound, W.shape)
        for b in self.biases:
            b[...] = 0.0

    def layer_activation(self, layer: int) -> str:
        """Name of the activation of weight layer ``layer`` (softmax for the last)."""
        return "softmax" if layer == self.n_layers - 1 else self.activation

    def feedforward(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities of ``X``; allocates its own arrays, so it is thread-safe.

        Parameters
        ----------
        X : ndarray of shape (n_samples, sizes[0])
            Scaled inputs in the network's dtype.

        Returns
        -------
        probs : ndarray of shape (n_samples, sizes[-1])
        """
        a = X
        for W, b, activation in zip(self.weights, self.biases, self._activations, strict=True):
            a = a @ W
            a += b          # in place: a large request holds one array per layer, not two
            a = activation(a)
        return a

    def backprop(self, X: np.ndarray, y: np.ndarray, l2: float = 0.0) -> tuple[float, int]:
        """Forward and backward pass over one batch; fills ``self.grad`` with the gradient.

        The objective is ``mean cross-entropy + l2 / 2 * sum(W ** 2)`` over all weight matrices
        (biases are not decayed). ``self.grad`` is its gradient at the current parameters.

        Parameters
        ----------
        X : ndarray of shape (n_samples, sizes[0])
            Scaled inputs in the network's dtype.
        y : ndarray of shape (n_samples,)
            Class indices.
        l2 : float
            Weight-decay strength.

        Returns
        -------
        loss : float
            The objective at the current parameters.
        n_correct : int
            Rows of the batch whose true class got the highest probability.
        """
        n = X.shape[0]
        # Forward: keep every layer's output; activations[0] is the input itself.
        activations = [X]
        for W, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            z = activations[-1] @ W
            z += b
            activations.append(ACTIVATIONS[self.activation](z))
        logits = activations[-1] @ self.weights[-1] + self.biases[-1]
        probs, loss, n_correct = softmax_cross_entropy(logits, y)

        # Output error: for softmax + mean cross-entropy, d(loss)/d(logits) = (probs - onehot) / n.
        delta = probs / n
        delta[np.arange(n), y] -= 1.0 / n

        # Backward, from the output layer down: a layer's gradients from its input and its
        # error, then the error of the layer below, through W^T and the activation's derivative
        # (taken from that layer's output).
        for layer in reversed(range(self.n_layers)):
            self.weight_grads[layer][...] = activations[layer].T @ delta
            delta.sum(axis=0, out=self.bias_grads[layer])
            if layer > 0:
                delta = delta @ self.weights[layer].T
                DERIVATIVES[self.activation](activations[layer], delta)

        if l2:
            weights = self.params[:self.n_weights]
            loss += 0.5 * l2 * float(weights @ weights)
            self.grad[:self.n_weights] += l2 * weights
        return loss, n_correct

    def loss_and_gradient(self, packed: np.ndarray, X: np.ndarray, y: np.ndarray,
                          l2: float = 0.0) -> tuple[float, np.ndarray]:
        """Objective and its gradient at packed parameters (for gradient checks).

        Parameters
        ----------
        packed : ndarray of shape (n_params,)
            Parameters in the layout of ``params``; copied into the network.
        X : ndarray of shape (n_samples, sizes[0])
        y : ndarray of shape (n_samples,)
        l2 : float

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_params,)
            A copy.
        """
        self.params[...] = packed
        loss, _ = self.backprop(X, y, l2)
        return loss, self.grad.copy()
