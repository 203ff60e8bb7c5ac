"""Stochastic optimisers that update a list of parameter arrays in place.

Like scikit-learn's ``_stochastic_optimizers.py``: an optimiser is built over the list of
parameter arrays it will update (to size its state buffers) and ``update(params, grads)``
applies one step to those same arrays, given the gradients of the loss. Each optimiser applies
its own learning rate; the gradients are left as they are. The network keeps all its
parameters in one flat vector, so in practice each list holds a single array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum.

    With velocity ``v`` (initially 0), each step does ``v = momentum * v - lr * g`` and then
    ``p += v`` (classical) or ``p += momentum * v - lr * g`` (Nesterov). ``momentum=0`` is
    plain SGD, ``p -= lr * g``.

    Parameters
    ----------
    params : list of ndarray
        The arrays that ``update`` will modify; only their shapes and dtypes are used here.
    learning_rate : float
        Step size.
    momentum : float, default 0.0
        In [0, 1).
    nesterov : bool, default False
        Use Nesterov's momentum.
    """

    def __init__(self, params: Sequence[np.ndarray], learning_rate: float,
                 momentum: float = 0.0, nesterov: bool = False) -> None:
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.velocities = [np.zeros_like(p) for p in params]

    @property
    def state(self) -> list[np.ndarray]:
        """The arrays it carries from step to step (``flush_subnormals`` clears them too)."""
        return self.velocities

    def update(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Apply one step to ``params`` in place.

        Parameters
        ----------
        params : list of ndarray
            Parameter arrays, as given to the constructor.
        grads : list of ndarray
            Gradients of the loss, same shapes as ``params``.
        """
        lr, mu = self.learning_rate, self.momentum
        for p, g, v in zip(params, grads, self.velocities, strict=True):
            if mu == 0.0:
                p -= lr * g
                continue
            v *= mu
            v -= lr * g
            p += mu * v - lr * g if self.nesterov else v


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction.

    With first and second moment estimates ``m``, ``v`` (initially 0) and step count ``t``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)
        p -= lr * m_hat / (sqrt(v_hat) + epsilon)

    The last two lines are computed in the form the paper's section 2 gives for efficiency:
    the bias corrections folded into the step size ``lr_t = lr * sqrt(1 - beta2**t) /
    (1 - beta1**t)`` and ``epsilon`` scaled by ``sqrt(1 - beta2**t)``, which is the same update.

    Parameters
    ----------
    params : list of ndarray
        The arrays that ``update`` will modify; only their shapes and dtypes are used here.
    learning_rate : float
        Step size ``lr``.
    beta1, beta2 : float
        Decay rates of the first and second moment estimates.
    epsilon : float
        Added to ``sqrt(v_hat)`` for numerical stability.
    """

    def __init__(self, params: Sequence[np.ndarray], learning_rate: float,
                 beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        self.learning_rate = float(learning_rate)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.t = 0
        self.ms = [np.zeros_like(p) for p in params]
        self.vs = [np.zeros_like(p) for p in params]
        self._scratch = [np.empty_like(p) for p in params]   # each term, then the step

    @property
    def state(self) -> list[np.ndarray]:
        """The arrays it carries from step to step (``flush_subnormals`` clears them too)."""
        return self.ms + self.vs

    def update(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Apply one step to ``params`` in place.

        Parameters
        ----------
        params : list of ndarray
            Parameter arrays, as given to the constructor.
        grads : list of ndarray
            Gradients of the loss, same shapes as ``params``.
        """
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        correction = math.sqrt(1.0 - b2**self.t)
        lr_t = self.learning_rate * correction / (1.0 - b1**self.t)
        eps_t = self.epsilon * correction
        for p, g, m, v, step in zip(params, grads, self.ms, self.vs, self._scratch, strict=True):
            # m = beta1 * m + (1 - beta1) * g
            m *= b1
            m += np.multiply(g, 1.0 - b1, out=step)
            # v = beta2 * v + (1 - beta2) * g**2
            v *= b2
            v += np.multiply(np.square(g, out=step), 1.0 - b2, out=step)
            # p -= lr_t * m / (sqrt(v) + eps_t), which is lr * m_hat / (sqrt(v_hat) + epsilon)
            np.sqrt(v, out=step)
            step += eps_t
            np.divide(m, step, out=step)
            p -= np.multiply(step, lr_t, out=step)


def flush_subnormals(arrays: Sequence[np.ndarray]) -> None:
    """Set, in place, every value smaller in magnitude than its dtype's smallest normal number
    to zero.

    A weight whose input is always zero gets no gradient: weight decay, and Adam's moment
    estimates, then shrink it step by step into the subnormal range, where every arithmetic
    operation on it is many times slower (the CPU has no flush-to-zero mode numpy could set).
    Such values are below any precision the network uses.

    Parameters
    ----------
    arrays : list of ndarray
        Floating-point arrays (parameters, optimiser state).
    """
    for a in arrays:
        a[np.abs(a) < np.finfo(a.dtype).tiny] = 0.0


#: Optimiser names: ``sgd`` is plain mini-batch SGD, ``momentum`` SGD with ``momentum`` (and
#: Nesterov's form when ``nesterov``), ``adam`` Adam; only ``momentum`` reads those two params.
OPTIMIZERS = ("sgd", "momentum", "adam")


def make_optimizer(name: str, params: Sequence[np.ndarray], learning_rate: float,
                   momentum: float = 0.0, nesterov: bool = False) -> SGD | Adam:
    """Build the optimiser called ``name`` over ``params``.

    Parameters
    ----------
    name : {"sgd", "momentum", "adam"}
    params : list of ndarray
        Arrays the optimiser will update.
    learning_rate : float
    momentum : float
        Used by ``momentum`` only.
    nesterov : bool
        Used by ``momentum`` only.

    Returns
    -------
    optimizer : SGD or Adam
    """
    if name == "adam":
        return Adam(params, learning_rate)
    if name == "momentum":
        return SGD(params, learning_rate, momentum=momentum, nesterov=nesterov)
    if name == "sgd":
        return SGD(params, learning_rate, momentum=0.0)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
