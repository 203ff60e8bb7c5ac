"""The training loop: validation split, mini-batch epochs, metrics, early stopping, callbacks.

``Batches`` gathers and standardises each batch inside one reusable buffer, so the training data
is never copied or scaled as a whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .activations import log_loss
from .network import Network
from .optimizers import SGD, Adam, flush_subnormals
from .preprocessing import StandardScaler

EpochCallback = Callable[[int, dict[str, Any]], bool | None]


def stratified_split(y: np.ndarray, fraction: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, validation) row indices holding ``fraction`` of each class out.

    Every class keeps at least one training row, so with very few rows the validation part
    can be empty.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class indices ``0..n_classes-1``.
    fraction : float
        In [0, 1); 0 gives an empty validation part.
    rng : numpy.random.Generator

    Returns
    -------
    train : ndarray of shape (n_train,)
    val : ndarray of shape (n_val,)
        Sorted, disjoint row indices covering all rows.
    """
    if fraction <= 0:
        return np.arange(len(y)), np.empty(0, dtype=np.int64)
    held = []
    for c in range(int(y.max()) + 1):
        rows = rng.permutation(np.flatnonzero(y == c))
        held.append(rows[:min(int(round(fraction * len(rows))), len(rows) - 1)])
    val = np.sort(np.concatenate(held))
    train = np.setdiff1d(np.arange(len(y)), val, assume_unique=True)
    return train, val


class Batches:
    """Shuffled, standardised mini-batches of some rows of ``X``, in one reusable buffer.

    ``X`` is neither copied nor scaled as a whole: each batch's rows are gathered with
    ``np.take(..., out=)`` into a preallocated buffer (the rows the next GEMMs read were just
    written, so they are in cache) and standardised there in place.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Unscaled inputs, float32 or float64.
    y : ndarray of shape (n_samples,)
        Class indices.
    rows : ndarray of shape (n_rows,)
        The rows to draw batches from (the training part).
    scaler : StandardScaler
        Fitted on those rows.
    batch_size : int
    dtype : numpy dtype
        Compute dtype of the batches.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, rows: np.ndarray, scaler: StandardScaler,
                 batch_size: int, dtype: np.dtype) -> None:
        self.X, self.y, self.rows, self.batch_size = X, y, rows, batch_size
        size = (min(batch_size, len(rows)), X.shape[1])
        self._batch = np.empty(size, dtype=dtype)
        # Gather in X's own dtype when it is wider, so centring loses no precision.
        self._raw = self._batch if X.dtype == dtype else np.empty(size, dtype=X.dtype)
        # Mean and 1 / scale repeated for every row of a batch, so that the two passes run as
        # whole-array loops instead of numpy's broadcasting loop, which restarts on every row.
        mean, inv_scale = scaler.cast(X.dtype, dtype)
        self._mean, self._inv_scale = np.tile(mean, (size[0], 1)), np.tile(inv_scale, (size[0], 1))

    def __len__(self) -> int:
        return len(self.rows)

    def epoch(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(X_batch, y_batch)`` over all rows in a fresh random order.

        ``X_batch`` of shape (n_batch, n_features) is a view of the shared buffer, valid until
        the next batch is drawn.
        """
        order = self.rows[rng.permutation(len(self.rows))]
        labels = self.y[order]
        for start in range(0, len(order), self.batch_size):
            take = order[start:start + self.batch_size]
            n = len(take)
            # mode="clip": with the default "raise", numpy buffers ``out`` (an extra copy); the
            # indices are valid by construction, so clipping never changes them.
            raw = self.X.take(take, axis=0, out=self._raw[:n], mode="clip")
            xb = np.subtract(raw, self._mean[:n], out=self._batch[:n], casting="same_kind")
            xb *= self._inv_scale[:n]
            yield xb, labels[start:start + n]


def train_epoch(net: Network, optimizer: SGD | Adam, batches: Batches, l2: float,
                rng: np.random.Generator) -> tuple[float, float]:
    """One pass over the training rows in a fresh random order, one optimiser step per batch.

    Parameters
    ----------
    net : Network
    optimizer : SGD or Adam
        Built over ``[net.params]``.
    batches : Batches
    l2 : float
    rng : numpy.random.Generator
        Draws the epoch's row order.

    Returns
    -------
    loss : float
        Mean objective over the epoch's batches (weights change as it runs), NaN on divergence.
    accuracy : float
        Fraction of rows classified correctly when their batch was seen.
    """
    params, grads = [net.params], [net.grad]
    total_loss, correct = 0.0, 0
    for xb, yb in batches.epoch(rng):
        loss, n_correct = net.backprop(xb, yb, l2)
        if not math.isfinite(loss):
            return math.nan, math.nan
        total_loss += loss * len(yb)
        correct += n_correct
        optimizer.update(params, grads)
    return total_loss / len(batches), correct / len(batches)


def train(net: Network, optimizer: SGD | Adam, batches: Batches, X_val: np.ndarray,
          y_val: np.ndarray, *, epochs: int, l2: float,
          early_stopping: bool, patience: int, rng: np.random.Generator,
          on_epoch: EpochCallback | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Run up to ``epochs`` epochs; returns ``(history, cancelled)``.

    After each epoch the metrics ``{epoch, loss, accuracy, val_loss, val_accuracy}`` (``val_*``
    None without a validation part) are appended to the history and passed to
    ``on_epoch(epoch, metrics)``; a ``False`` return stops training (``cancelled``). With
    ``early_stopping``, training stops after ``patience`` epochs without a lower validation loss
    (training loss when there is no validation part) and the best epoch's weights are restored.

    Parameters
    ----------
    net : Network
        Initialised; trained in place.
    optimizer : SGD or Adam
    batches : Batches
        The training rows.
    X_val : ndarray of shape (n_val, n_features)
        Scaled validation rows in the network's dtype.
    y_val : ndarray of shape (n_val,)

    Raises
    ------
    ValueError
        When the loss or the weights stop being finite (learning rate too high).
    """
    history: list[dict[str, Any]] = []
    cancelled, stale = False, 0
    best_loss, best_params = math.inf, net.params.copy()
    for epoch in range(1, epochs + 1):
        # Divergence shows up as inf/nan, checked below; don't also warn on the way there.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, accuracy = train_epoch(net, optimizer, batches, l2, rng)
            flush_subnormals([net.params, *optimizer.state])  # once an epoch is enough
            metrics = {"epoch": epoch, "loss": loss, "accuracy": accuracy,
                       "val_loss": None, "val_accuracy": None}
            if len(y_val):
                probs = net.feedforward(X_val)
                metrics["val_loss"] = log_loss(y_val, probs)
                metrics["val_accuracy"] = float(np.mean(probs.argmax(axis=1) == y_val))
        if not (math.isfinite(loss) and math.isfinite(metrics["val_loss"] or 0.0)
                and np.isfinite(net.params).all()):
            raise ValueError(f"training diverged in epoch {epoch} (the loss or the weights "
                             "became infinite or NaN); try a smaller learning_rate")
        history.append(metrics)

        monitored = loss if metrics["val_loss"] is None else metrics["val_loss"]
        if monitored < best_loss:
            best_loss, stale = monitored, 0
            np.copyto(best_params, net.params)
        else:
            stale += 1
        if on_epoch is not None and on_epoch(epoch, dict(metrics)) is False:
            cancelled = True
            break
        if early_stopping and stale >= patience:
            break
    if early_stopping:
        np.copyto(net.params, best_params)
    return history, cancelled
