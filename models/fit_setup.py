"""What ``MLPClassifier.fit`` starts from: the rows encoded and the labels indexed, the
standardisation and the initial network, for a cold start or a warm start from a fitted parent
(``models.warm_start``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from . import inputs
from . import warm_start as warm
from .encoder import TabularEncoder
from .network import Network
from .preprocessing import LabelEncoder, StandardScaler, fit_checked_scaler
from .tabular import TabularInput

if TYPE_CHECKING:
    from .classifier import MLPClassifier


@dataclass
class FitData:
    """The training rows as the network's input (before standardisation) and their labels;
    ``names``, ``encoder`` and ``classes_added`` become the model's ``feature_names_``,
    ``encoder_`` and ``classes_added_``."""

    X: np.ndarray
    names: list[str] | None
    encoder: TabularEncoder | None
    labels: LabelEncoder
    y_idx: np.ndarray
    classes_added: list[Any]


def prepare(X: ArrayLike | TabularInput, y: ArrayLike, params: dict[str, Any],
            feature_names: Sequence[str] | None, feature_types: Mapping[str, str] | None,
            max_categories: int, min_frequency: int,
            warm_start: MLPClassifier | None) -> FitData:
    """Encode ``X`` and index ``y``: as the ``warm_start`` parent does, else learning the
    encoding (``fit``'s parameters of the same names).

    Raises
    ------
    ValueError
        Bad data; ``models.warm_start.WarmStartError`` when it does not fit the parent.
    """
    if warm_start is not None:
        start = warm.prepare(warm_start, X, y, params, feature_names)
        return FitData(start.X, start.names, start.encoder, start.labels, start.y_idx,
                       start.classes_added)
    return FitData(*inputs.encode_new(X, y, feature_names, feature_types, max_categories,
                                      min_frequency), classes_added=[])


def fit_scaler(X: np.ndarray, train_rows: np.ndarray, val_rows: np.ndarray,
               warm_start: MLPClassifier | None) -> StandardScaler:
    """The standardisation: fitted on the training part, or the parent's (its input space,
    unchanged); ValueError when a row to train or validate on holds NaN or infinity.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_inputs)
    train_rows, val_rows : ndarray of int
        Row indices of the training and validation parts (``val_rows`` may be empty).
    warm_start : MLPClassifier or None
    """
    if warm_start is None:
        scaler = fit_checked_scaler(X, train_rows if val_rows.size else None)
    else:
        scaler = warm_start.scaler_
        if not np.isfinite(X[train_rows]).all():
            raise ValueError("X contains NaN or infinity")
    if val_rows.size and not np.isfinite(X[val_rows]).all():
        raise ValueError("X contains NaN or infinity")
    return scaler


def initial_network(params: dict[str, Any], n_inputs: int, classes: np.ndarray,
                    rng: np.random.Generator, warm_start: MLPClassifier | None) -> Network:
    """A network initialised from ``rng``, then seeded with the parent's weights on a warm
    start (``models.warm_start.seed_network``).

    Parameters
    ----------
    params : dict
        Checked parameters: ``hidden_layers``, ``activation``, ``dtype``.
    n_inputs : int
    classes : ndarray of shape (n_classes,)
        Sorted; on a warm start, contains every class of the parent.
    rng : numpy.random.Generator
    warm_start : MLPClassifier or None
    """
    net = Network([n_inputs, *params["hidden_layers"], len(classes)], params["activation"],
                  params["dtype"])
    net.initialize(rng)
    if warm_start is not None:
        warm.seed_network(net, warm_start.network_, warm_start.classes_, classes)
    return net
