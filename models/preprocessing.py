"""Input scaling and label encoding.

``StandardScaler`` centres and scales features (statistics in float64, so columns in the
1e6 range keep their precision; constant columns get scale 1 instead of a division by zero).
``LabelEncoder`` maps labels to class indices; integer labels stay integers and string labels
stay strings, and ``kind`` records which so an artifact can restore them.
"""

from __future__ import annotations

import numpy as np

_CHUNK_ROWS = 8192


class StandardScaler:
    """Standardise features to zero mean and unit variance.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,), float64
    scale_ : ndarray of shape (n_features,), float64
        Standard deviation of each column, or 1.0 where a column is (numerically) constant.
    """

    def __init__(self, mean: np.ndarray | None = None, scale: np.ndarray | None = None) -> None:
        self.mean_ = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.scale_ = None if scale is None else np.asarray(scale, dtype=np.float64)

    def fit(self, X: np.ndarray) -> StandardScaler:
        """Compute column means and standard deviations.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Finite numeric data, n_samples >= 1.

        Returns
        -------
        self : StandardScaler
        """
        n = X.shape[0]
        mean = X.sum(axis=0, dtype=np.float64) / n
        sumsq = np.zeros(X.shape[1])
        for start in range(0, n, _CHUNK_ROWS):   # two-pass variance, chunked to bound memory
            d = X[start:start + _CHUNK_ROWS].astype(np.float64)
            d -= mean
            sumsq += np.einsum("ij,ij->j", d, d)
        std = np.sqrt(sumsq / n)
        tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
        self.mean_ = mean
        self.scale_ = np.where(std > tiny, std, 1.0)
        return self

    def transform(self, X: np.ndarray, dtype: np.dtype | str = np.float32) -> np.ndarray:
        """Return ``(X - mean_) / scale_`` as a new C-contiguous array of ``dtype``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        dtype : numpy dtype
            Dtype of the result (the network's compute dtype).

        Returns
        -------
        X_scaled : ndarray of shape (n_samples, n_features)
        """
        dtype = np.dtype(dtype)
        out = np.empty(X.shape, dtype=dtype)
        # Subtract in the wider of the two dtypes, then scale in the compute dtype.
        work = np.result_type(X.dtype, dtype)
        np.subtract(X, self.mean_.astype(work), out=out, casting="same_kind")
        out *= (1.0 / self.scale_).astype(dtype)
        return out


class LabelEncoder:
    """Map labels to class indices ``0..n_classes-1`` in sorted label order.

    Parameters
    ----------
    classes : array-like of shape (n_classes,), optional
        Known classes (when restoring an encoder from an artifact).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted distinct labels, dtype int64 for integer labels and unicode for strings.
    kind : {"int", "str"}
    """

    def __init__(self, classes: np.ndarray | None = None) -> None:
        self.classes_ = None if classes is None else _as_labels(np.asarray(classes))
        self.kind = None if self.classes_ is None else _kind(self.classes_)

    def fit_transform(self, y: np.ndarray) -> np.ndarray:
        """Learn the classes of ``y`` and return its class indices.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Integer (or integral float) labels, or string labels.

        Returns
        -------
        y_idx : ndarray of shape (n_samples,), int64
        """
        labels = _as_labels(np.asarray(y))
        self.classes_, y_idx = np.unique(labels, return_inverse=True)
        self.kind = _kind(self.classes_)
        return y_idx.astype(np.int64).reshape(-1)

    def inverse_transform(self, y_idx: np.ndarray) -> np.ndarray:
        """Labels of class indices.

        Parameters
        ----------
        y_idx : ndarray of shape (n_samples,)

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype of ``classes_``
        """
        return self.classes_[y_idx]


def _kind(classes: np.ndarray) -> str:
    return "int" if classes.dtype.kind == "i" else "str"


def _as_labels(y: np.ndarray) -> np.ndarray:
    """Normalise labels to int64 or unicode; raise ValueError for anything else."""
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per row), got shape {y.shape}")
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError("y holds non-integral or non-finite numbers: labels must be "
                             "integers or strings")
        return y.astype(np.int64)
    if y.dtype.kind == "U":
        return y
    if y.dtype.kind == "O" and all(isinstance(v, str) for v in y):
        return y.astype(str)
    if y.dtype.kind == "O" and all(isinstance(v, int | np.integer) for v in y):
        return y.astype(np.int64)
    raise ValueError(f"y must hold integer or string labels, got dtype {y.dtype}")
