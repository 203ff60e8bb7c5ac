"""Input checks, scaling and label encoding.

``as_float_matrix`` / ``check_feature_names`` validate what ``fit`` and ``predict`` receive;
``StandardScaler`` centres and scales features (sums accumulated in float64, so columns in the
1e6 range keep their precision; constant columns get scale 1 instead of a division by zero);
``LabelEncoder`` maps labels to class indices, integer labels staying integers and string labels
strings (``kind`` records which, so an artifact can restore them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

_BLOCK_ROWS = 256          # rows per block copied into a buffer (it stays in cache)
_VIEW_BLOCK_ROWS = 1024    # rows per block summed in place


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

    # Set by fit(), or by __init__ when given: absent until then.
    mean_: np.ndarray
    scale_: np.ndarray

    def __init__(self, mean: ArrayLike | None = None, scale: ArrayLike | None = None) -> None:
        if mean is not None:
            self.mean_ = np.asarray(mean, dtype=np.float64)
        if scale is not None:
            self.scale_ = np.asarray(scale, dtype=np.float64)
        self._cast: dict[tuple[np.dtype, np.dtype], tuple[np.ndarray, np.ndarray]] = {}

    def fit(self, X: np.ndarray, rows: np.ndarray | None = None) -> StandardScaler:
        """Compute column means and standard deviations of ``X`` (or of ``X[rows]``).

        One pass over blocks of rows, no copy of ``X``: each block's column sums and sums of
        squares are taken in the input's float dtype (a matrix-vector product and an
        ``einsum``) and accumulated in float64. Where a column's mean is large against its
        spread (``1e6 + noise``), ``sum(x**2) - n * mean**2`` would cancel, so when the first
        block shows any such column every block is first shifted by that block's mean, in a
        buffer small enough to stay in cache; data that is roughly centred already (its head's
        means within a standard deviation of 0) is summed where it lies. Non-finite inputs give
        non-finite statistics.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Float32 or float64.
        rows : ndarray of shape (n_rows,), optional
            Use only these rows (n_rows >= 1).

        Returns
        -------
        self : StandardScaler
        """
        n = X.shape[0] if rows is None else len(rows)
        s1, s2 = np.zeros(X.shape[1]), np.zeros(X.shape[1])
        with np.errstate(over="ignore", invalid="ignore"):   # inf/NaN in X: checked by caller
            head = X[:_BLOCK_ROWS] if rows is None else X[rows[:_BLOCK_ROWS]]
            head_mean = head.mean(axis=0, dtype=np.float64)
            centred = bool(np.all(np.abs(head_mean) <= head.std(axis=0, dtype=np.float64)))
            shift = np.zeros(X.shape[1], X.dtype) if centred else head_mean.astype(X.dtype)
            in_place = centred and rows is None
            block_rows = _VIEW_BLOCK_ROWS if in_place else _BLOCK_ROWS
            buffer = None if in_place else np.empty((min(block_rows, n), X.shape[1]), X.dtype)
            ones = np.ones(min(block_rows, n), dtype=X.dtype)
            for start in range(0, n, block_rows):
                stop = min(start + block_rows, n)
                if buffer is None:                   # in place
                    d = X[start:stop]
                elif rows is None:
                    d = np.subtract(X[start:stop], shift, out=buffer[:stop - start])
                else:
                    d = X.take(rows[start:stop], axis=0, out=buffer[:stop - start],
                               mode="clip")                  # "clip": unbuffered, see Batches
                    if not centred:
                        d -= shift
                s1 += ones[:len(d)] @ d
                s2 += np.einsum("ij,ij->j", d, d)
            mean_d = s1 / n
            std = np.sqrt(np.maximum(s2 / n - mean_d * mean_d, 0.0))
            mean = shift.astype(np.float64) + mean_d
            tiny = 10 * np.finfo(X.dtype).eps * np.maximum(np.abs(mean), 1.0)
        self.mean_ = mean
        self.scale_ = np.where(std > tiny, std, 1.0)
        self._cast = {}
        return self

    def is_finite(self) -> bool:
        """Whether the fitted statistics are finite (false if the data held NaN or inf)."""
        return bool(np.isfinite(self.mean_).all() and np.isfinite(self.scale_).all())

    def transform(self, X: np.ndarray, dtype: DTypeLike = np.float32) -> np.ndarray:
        """Return ``(X - mean_) / scale_`` as a new array of ``dtype``.

        Centred and scaled in the wider of ``X``'s dtype and ``dtype``, then cast: float64 rows
        such as ``1e6 + 0.01`` keep their digits below float32's grid (as ``Batches`` does).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        dtype : numpy dtype
            Dtype of the result (the network's compute dtype).

        Returns
        -------
        X_scaled : ndarray of shape (n_samples, n_features)
        """
        wide = X.dtype if X.dtype == dtype else np.result_type(X.dtype, dtype)
        mean, inv_scale = self.cast(wide, dtype)
        out = np.subtract(X, mean, dtype=mean.dtype)
        out *= inv_scale
        return out if out.dtype == dtype else out.astype(dtype)

    def cast(self, mean_dtype: DTypeLike, scale_dtype: DTypeLike) -> tuple[np.ndarray, np.ndarray]:
        """``mean_`` as ``mean_dtype`` and ``1 / scale_`` as ``scale_dtype``, computed once per
        pair of dtypes, since a served model transforms only a few rows per request.

        Returns
        -------
        mean : ndarray of shape (n_features,)
        inv_scale : ndarray of shape (n_features,)
        """
        key = (np.dtype(mean_dtype), np.dtype(scale_dtype))
        cast = self._cast.get(key)
        if cast is None:
            cast = (self.mean_.astype(key[0]), (1.0 / self.scale_).astype(key[1]))
            self._cast[key] = cast
        return cast


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

    # Set by fit_transform(), or by __init__ when given: absent until then.
    classes_: np.ndarray
    kind: str

    def __init__(self, classes: ArrayLike | None = None) -> None:
        if classes is not None:
            self.classes_ = as_labels(np.asarray(classes))
            self.kind = _kind(self.classes_)

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
        labels = as_labels(np.asarray(y))
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


_INT64 = np.iinfo(np.int64)
_INT64_RANGE = f"integer labels must lie in [{_INT64.min}, {_INT64.max}]"


def as_labels(y: object) -> np.ndarray:
    """Class labels as a 1-D int64 or unicode array; ValueError saying what is wrong otherwise.

    Integers (and integral floats) within int64 become int64, strings stay strings; a list
    mixing the two is refused rather than read as strings.

    Parameters
    ----------
    y : array-like of shape (n_samples,)

    Returns
    -------
    labels : ndarray of shape (n_samples,), int64 or unicode
    """
    if isinstance(y, list | tuple) and str in set(map(type, y)) and \
            not all(isinstance(v, str) for v in y):
        raise ValueError("labels must be all integers or all strings, not a mix")
    try:
        y = np.asarray(y)
    except (ValueError, OverflowError):  # ragged, or ints beyond 64 bits
        y = np.asarray(y, dtype=object)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D (one label per row), got shape {y.shape}")
    if y.dtype.kind == "O":
        if all(isinstance(v, str) for v in y):
            return y.astype(str)
        if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in y):
            raise ValueError("labels must be all integers or all strings")
        try:  # Python ints are unbounded
            return np.array(y.tolist(), dtype=np.int64)
        except OverflowError:
            raise ValueError(_INT64_RANGE) from None
    if y.dtype.kind == "U":
        return y
    if y.dtype.kind == "f":
        if not (np.isfinite(y).all() and (y == np.round(y)).all()):
            raise ValueError("labels hold non-integral or non-finite numbers: labels must be "
                             "integers or strings")
        if y.size and not (-2.0**63 <= y.min() and y.max() < 2.0**63):
            raise ValueError(_INT64_RANGE)
    elif y.dtype.kind == "u":
        if y.size and y.max() > _INT64.max:
            raise ValueError(_INT64_RANGE)
    elif y.dtype.kind not in "bi":
        raise ValueError(f"labels must be integers or strings, got dtype {y.dtype}")
    return y.astype(np.int64)


def as_float_matrix(X: object, name: str, check_finite: bool = True) -> np.ndarray:
    """``X`` as a 2-D float32/float64 ndarray (no copy if it is one already).

    Raises ValueError saying what is wrong: not numeric, not 2-D, NaN or infinity (the last
    only with ``check_finite``).
    """
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numeric, got dtype {X.dtype}") from None
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
    if check_finite and not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def fit_checked_scaler(X: np.ndarray, rows: np.ndarray | None) -> StandardScaler:
    """Standardisation statistics of the training rows; also the NaN/inf check of those rows.

    NaN or inf in the data make the statistics non-finite, so only then is ``X`` searched
    element by element (statistics that merely overflowed float32 are redone in float64).
    """
    scaler = StandardScaler().fit(X, rows)
    if scaler.is_finite():
        return scaler
    part = X if rows is None else X[rows]
    if not np.isfinite(part).all():
        raise ValueError("X contains NaN or infinity")
    scaler = StandardScaler().fit(part.astype(np.float64))
    if not scaler.is_finite():
        raise ValueError("X holds values too large to standardise (|x| above about 1e150)")
    return scaler


def check_feature_names(names: Sequence[str] | None, n_features: int) -> list[str] | None:
    """``names`` as a list of ``n_features`` strings (or None); ValueError otherwise."""
    if names is None:
        return None
    names = list(names)
    if len(names) != n_features or not all(isinstance(s, str) for s in names):
        raise ValueError(f"feature_names must be {n_features} strings, got {names!r:.200}")
    return names
