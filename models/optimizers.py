"""Stochastic optimisers that update a list of parameter arrays in place.

Like scikit-learn's ``_stochastic_optimizers.py``: an optimiser is built over the list of
parameter arrays it will update (to size its state buffers) and ``update(params, grads)``
applies one step to those same arrays. The network keeps all its parameters in one flat
vector, so in practice each list holds a single array and a step is a handful of whole-array
numpy operations with ``out=`` buffers: no temporaries are allocated per step.

``update`` *consumes* ``grads``: it uses them as scratch space and overwrites them. The network
recomputes its gradient buffer on every batch, and one array less to stream through the cache
made a measurable difference to a training step (pass copies to keep gradients).

``update`` also expects the gradients multiplied by the optimiser's ``grad_scale``, a scalar it
chooses before every step: the network scales its output error by it, which scales every
gradient for free, and each optimiser saves a whole-array multiplication per step that way
(SGD its ``lr * g``, Adam the decay of its first moment). Callers that compute gradients
themselves multiply them by ``grad_scale`` first.
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
    def grad_scale(self) -> float:
        """``learning_rate``: ``update`` takes the plain steps ``lr * g`` as its gradients."""
        return self.learning_rate

    def update(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Apply one step to ``params`` in place.

        Parameters
        ----------
        params : list of ndarray
            Parameter arrays, as given to the constructor.
        grads : list of ndarray
            Gradients of the loss times ``grad_scale`` (the plain steps ``lr * g``), same
            shapes as ``params``; overwritten (scratch).
        """
        mu = self.momentum
        for p, g, v in zip(params, grads, self.velocities, strict=True):
            if mu == 0.0:
                p -= g
                continue
            v *= mu
            v -= g                                       # v = mu * v - lr * g
            if self.nesterov:
                p -= g
                np.multiply(v, mu, out=g)
                p += g                                   # p += mu * v - lr * g
            else:
                p += v


_MAX_MOMENT_SCALE = 2.0**16   # Adam's moments times at most 2**16 and 2**32: far from overflow


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction.

    Keeps the moment estimates in a rescaled form so that a step is nine in-place passes::

        m~ = beta1 * m~ + g                 # m~ = m / (1 - beta1)
        v~ = beta2 * v~ + g**2              # v~ = v / (1 - beta2)
        p -= a_t * m~ / (sqrt(v~) + eps_t)

    which is algebraically the textbook update
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - beta1**t)`` and
    ``v_hat = v / (1 - beta2**t)``: the constant factors are folded into the scalars ``a_t``
    and ``eps_t``. The moments are stored as ``s * m~`` and ``s**2 * v~``, ``s`` being the scale
    of the step's gradients, and ``grad_scale`` grows by ``1 / beta1`` per step, so
    ``s * m~ = (s / s_prev) * beta1 * s_prev * m~_prev + s * g`` needs no multiplication; when
    it would pass ``2**16`` it restarts at 1, and that one step decays the first moment.

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
        self._grad_scale = 1.0
        self._grad_scale_grew = False
        self._moment_scale = 1.0     # the s of the stored moments

    @property
    def grad_scale(self) -> float:
        """The factor the gradients of the next ``update`` must carry, in [1, 2**16]."""
        return self._grad_scale

    def update(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Apply one step to ``params`` in place.

        Parameters
        ----------
        params : list of ndarray
            Parameter arrays, as given to the constructor.
        grads : list of ndarray
            Gradients of the loss times ``grad_scale``, same shapes as ``params``; overwritten
            (scratch).
        """
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        s, ratio = self._grad_scale, self._grad_scale / self._moment_scale
        m_decay = 1.0 if self._grad_scale_grew else ratio * b1   # ratio == 1 / b1 if it grew
        v_decay = ratio * ratio * b2
        self._moment_scale = s
        self._grad_scale_grew = 0.0 < b1 and s / b1 <= _MAX_MOMENT_SCALE
        self._grad_scale = s / b1 if self._grad_scale_grew else 1.0
        # sqrt(v_hat) = c * sqrt(v~) with c = sqrt((1 - b2) / (1 - b2**t)), so
        # lr * m_hat / (sqrt(v_hat) + eps) = a_t * m~ / (sqrt(v~) + eps / c), and with the
        # moments stored times s and s**2 the s cancels out but for s * eps / c.
        c = math.sqrt((1.0 - b2) / (1.0 - b2**self.t))
        a_t = self.learning_rate * (1.0 - b1) / ((1.0 - b1**self.t) * c)
        eps_t = s * self.epsilon / c
        for p, g, m, v in zip(params, grads, self.ms, self.vs, strict=True):
            if m_decay != 1.0:
                m *= m_decay
            m += g
            g *= g                   # from here on g is scratch
            v *= v_decay
            v += g
            np.sqrt(v, out=g)
            g += eps_t
            np.divide(m, g, out=g)
            g *= a_t
            p -= g


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
