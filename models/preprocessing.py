"""Input scaling and label encoding.

``StandardScaler`` centres and scales features (statistics in float64, so columns in the
1e6 range keep their precision; constant columns get scale 1 instead of a division by zero).
``LabelEncoder`` maps labels to class indices; integer labels stay integers and string labels
stay strings, and ``kind`` records which so an artifact can restore them.
"""

from __future__ import annotations

import numpy as np

_BLOCK_ROWS = 256


class StandardScaler:
    """Standardise features to zero mean and unit variance.

    Parameters
    ----------
    mean, scale : array-like of shape (n_features,), optional
        Known statistics (when restoring a model).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,), float64
    scale_ : ndarray of shape (n_features,), float64
        Standard deviation of each column, or 1.0 where a column is (numerically) constant.
    """

    def __init__(self, mean: np.ndarray | None = None, scale: np.ndarray | None = None) -> None:
        self.mean_ = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.scale_ = None if scale is None else np.asarray(scale, dtype=np.float64)

    def fit(self, X: np.ndarray, rows: np.ndarray | None = None) -> StandardScaler:
        """Compute column means and standard deviations of ``X`` (or of ``X[rows]``).

        Works through blocks of rows small enough to stay in cache (no copy of ``X``): each
        block is centred, summed with a matrix-vector product in the input's float dtype, and
        the block sums are accumulated in float64.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Finite numbers, float32 or float64.
        rows : ndarray of shape (n_rows,), optional
            Use only these rows (n_rows >= 1).

        Returns
        -------
        self : StandardScaler
        """
        n = X.shape[0] if rows is None else len(rows)
        block = np.empty((min(_BLOCK_ROWS, n), X.shape[1]), dtype=X.dtype)
        ones = np.ones(block.shape[0], dtype=X.dtype)

        def centred_sums(shift: np.ndarray, power: int) -> np.ndarray:
            total = np.zeros(X.shape[1])
            for start in range(0, n, _BLOCK_ROWS):
                stop = min(start + _BLOCK_ROWS, n)
                d = block[:stop - start]
                if rows is None:
                    np.subtract(X[start:stop], shift, out=d)
                else:
                    np.take(X, rows[start:stop], axis=0, out=d)
                    d -= shift
                if power == 2:
                    np.multiply(d, d, out=d)
                total += ones[:len(d)] @ d
            return total

        # Two passes: the mean (shifted by the first row, so a column like 1e6 + noise keeps
        # its precision), then squared deviations from that mean.
        first = X[0 if rows is None else rows[0]].astype(np.float64)
        mean = first + centred_sums(first.astype(X.dtype), 1) / n
        std = np.sqrt(centred_sums(mean.astype(X.dtype), 2) / n)
        tiny = 10 * np.finfo(X.dtype).eps * np.maximum(np.abs(mean), 1.0)
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
        out = np.empty(X.shape, dtype=dtype)
        self.transform_into(X, out)
        return out

    def transform_into(self, X: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write ``(X - mean_) / scale_`` into ``out`` (which may be ``X`` itself).

        The subtraction runs in the wider of the two dtypes, the scaling in ``out``'s dtype.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        out : ndarray of shape (n_samples, n_features)

        Returns
        -------
        out : ndarray of shape (n_samples, n_features)
        """
        work = np.result_type(X.dtype, out.dtype)
        np.subtract(X, self.mean_.astype(work), out=out, casting="same_kind")
        out *= (1.0 / self.scale_).astype(out.dtype)
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
