"""How ``X`` becomes the network's input columns: through an encoding learned on a cold start's
training rows (``fit``), or through a fitted model's encoding (``encode``, every prediction).

Tabular input (records, named columns, a ``Table``) goes through a ``TabularEncoder``; a numeric
matrix is taken as it is, checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike

from .encoder import TabularEncoder
from .params import check_param
from .preprocessing import LabelEncoder, as_float_matrix, check_feature_names
from .tabular import Table, TabularInput, as_table


def encode_new(X: ArrayLike | TabularInput, y: ArrayLike,
               feature_names: Sequence[str] | None, feature_types: Mapping[str, str] | None,
               max_categories: int, min_frequency: int
               ) -> tuple[np.ndarray, list[str] | None, TabularEncoder | None, LabelEncoder,
                          np.ndarray]:
    """A cold start's inputs: ``(X encoded, names, encoder, labels, y_idx)``.

    Tabular input gets a new ``TabularEncoder`` (``fit``'s parameters of the same names); a
    numeric matrix's finiteness is left to the scaler.

    Returns
    -------
    X : ndarray of shape (n_samples, n_inputs)
    names : list of str or None
    encoder : TabularEncoder or None
    labels : LabelEncoder
        Fitted on ``y``: at least two classes.
    y_idx : ndarray of shape (n_samples,)
    """
    table = as_table(X)
    encoder = None
    if table is not None:
        encoder = TabularEncoder(feature_types,
                                 check_param("max_categories", max_categories),
                                 check_param("min_frequency", min_frequency))
        X = encoder.fit_transform(table)
        names = table.names
    else:
        if feature_types:
            raise ValueError("feature_types applies to tabular input (records, columns or "
                             "a Table), not to a numeric matrix")
        X = as_float_matrix(X, "X", check_finite=False)  # checked later, by the scaler
        names = None
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X is empty (shape {X.shape}): need at least one row and column")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per row), got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X and y lengths differ: {X.shape[0]} rows, {y.shape[0]} labels")
    labels = LabelEncoder()
    y_idx = labels.fit_transform(y)
    if len(labels.classes_) < 2:
        raise ValueError(f"y has fewer than 2 classes ({len(labels.classes_)}): "
                         "nothing to classify")
    if encoder is None:
        names = check_feature_names(feature_names, X.shape[1])
    return X, names, encoder, labels, y_idx


def encode_fitted(X: ArrayLike | TabularInput, encoder: TabularEncoder | None,
                  feature_names: list[str] | None, n_features_in: int
                  ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """``X`` as a fitted model's input columns, and what was coerced (``MLPClassifier.encode``).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features_in), or tabular input
    encoder : TabularEncoder or None
        The model's (tabular models); None: ``X`` must be a finite numeric matrix.
    feature_names : list of str or None
        The model's ``feature_names_``.
    n_features_in : int
    """
    if encoder is not None:
        table = as_table(X, feature_names)
        if table is None:
            # Not records or columns: rows of cells, each checked by from_rows.
            table = Table.from_rows(cast(Sequence[Sequence[object]], X), encoder.names_)
        return encoder.transform(table)
    X = as_float_matrix(X, "X")
    if X.shape[1] != n_features_in:
        raise ValueError(f"X has {X.shape[1]} features, the model expects {n_features_in}")
    return X, []
