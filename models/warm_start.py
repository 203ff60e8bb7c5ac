"""Warm start: train a new model from a fitted parent's weights, in the parent's input space.

The parent's encoding (a tabular ``TabularEncoder``, or the numeric columns by position) and its
standardisation are kept, so the network's inputs mean what they meant; the architecture
(``hidden_layers``, ``activation``) must match. The classes are the union of the parent's and
the new labels: a class the parent never saw gets a freshly initialised output unit (column of
the last weight matrix and a zero bias), the others keep theirs. scikit-learn's ``warm_start``
refuses new classes instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .network import Network
from .preprocessing import LabelEncoder, StandardScaler, as_float_matrix, as_labels
from .tabular import Table, as_table

if TYPE_CHECKING:
    from .classifier import MLPClassifier
    from .encoder import TabularEncoder

#: Parameters that fix the shape and meaning of the weights.
ARCHITECTURE = ("hidden_layers", "activation")


class WarmStartError(ValueError):
    """A parent the new training cannot start from; ``field`` names what differs
    (``params.hidden_layers``, ``data.features``, ``data.labels``...)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Start:
    """What ``prepare`` derives from the parent for one training set.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_inputs)
        The rows encoded as the parent encodes them (before standardisation).
    names : list of str or None
        Feature names of the new model (the parent's).
    encoder : TabularEncoder or None
        The parent's encoder (tabular parents).
    scaler : StandardScaler
        The parent's standardisation.
    labels : LabelEncoder
        Over the union of the parent's classes and the new labels.
    y_idx : ndarray of shape (n_samples,)
        Class indices of the new labels in ``labels``.
    classes_added : list
        Classes the parent did not have, in class order.
    """

    X: np.ndarray
    names: list[str] | None
    encoder: TabularEncoder | None
    scaler: StandardScaler
    labels: LabelEncoder
    y_idx: np.ndarray
    classes_added: list[Any]


def check_architecture(parent_params: dict[str, Any], params: dict[str, Any]) -> None:
    """WarmStartError naming the first architecture parameter that differs from the parent's."""
    for name in ARCHITECTURE:
        mine, theirs = params[name], parent_params[name]
        if name == "hidden_layers":
            mine, theirs = list(mine), list(theirs)
        if mine != theirs:
            raise WarmStartError(f"{name} is {mine!r} but the parent's is {theirs!r}; a warm "
                                 "start keeps the parent's architecture", f"params.{name}")


def check_columns(parent_names: Sequence[str] | None, parent_width: int,
                  names: Sequence[str] | None, width: int, tabular_parent: bool) -> None:
    """WarmStartError naming the columns of the new data that do not fit the parent's input.

    Parameters
    ----------
    parent_names : the parent's input columns (tabular) or feature names (numeric), or None.
    parent_width : the parent's number of input columns.
    names : the new data's column names, or None (numeric rows without names).
    width : the new data's number of columns.
    tabular_parent : whether the parent was trained on tabular data (columns bound by name).
    """
    if names is not None and parent_names is not None:
        unknown = [n for n in names if n not in set(parent_names)]
        missing = [n for n in parent_names if n not in set(names)]
        if unknown or missing:
            parts = ([f"not in the parent's input: {unknown}"] if unknown else []) + \
                    ([f"missing: {missing}"] if missing else [])
            raise WarmStartError("columns do not fit the parent's input schema (" +
                                 "; ".join(parts) + ")", "data.features")
        if not tabular_parent and list(names) != list(parent_names):
            raise WarmStartError(f"columns {list(names)} are not in the parent's order "
                                 f"{list(parent_names)}", "data.features")
        return
    if tabular_parent:
        raise WarmStartError("the parent was trained on named columns "
                             f"{list(parent_names or [])}; give the data's column names",
                             "data.feature_names")
    if width != parent_width:
        raise WarmStartError(f"the data has {width} columns; the parent takes {parent_width}",
                             "data.features")


def merge_classes(parent_classes: np.ndarray, y: Any) -> tuple[LabelEncoder, np.ndarray,
                                                                list[Any]]:
    """The union of the parent's classes and the labels ``y``: ``(encoder, y_idx, added)``."""
    labels = as_labels(y)
    parent = LabelEncoder(parent_classes)
    if (labels.dtype.kind == "i") != (parent.kind == "int"):
        have = "integers" if labels.dtype.kind == "i" else "strings"
        theirs = "integers" if parent.kind == "int" else "strings"
        raise WarmStartError(f"the labels are {have}; the parent's classes are {theirs}",
                             "data.labels")
    classes = np.union1d(parent.classes_, labels)
    added = [c for c in np.setdiff1d(classes, parent.classes_).tolist()]
    return LabelEncoder(classes), np.searchsorted(classes, labels).astype(np.int64), added


def prepare(parent: MLPClassifier, X: Any, y: Any, params: dict[str, Any],
            feature_names: Sequence[str] | None = None) -> Start:
    """Check ``params`` and the data against ``parent`` and encode the data as it would.

    Parameters
    ----------
    parent : MLPClassifier
        Fitted.
    X : array-like of shape (n_samples, n_features), or tabular input
    y : array-like of shape (n_samples,)
    params : dict
        The new model's checked parameters.
    feature_names : sequence of str, optional
        Names of a numeric matrix's columns.

    Raises
    ------
    WarmStartError
        Architecture, columns or label kind do not fit the parent.
    """
    check_architecture(parent.get_params(), params)
    table = as_table(X)
    if parent.encoder_ is not None:
        if table is None and feature_names is not None:  # named rows of numbers
            matrix = as_float_matrix(X, "X", check_finite=True)
            table = Table(list(feature_names), [matrix[:, j].tolist()
                                                for j in range(matrix.shape[1])])
        if table is None:
            raise WarmStartError("the parent was trained on tabular data; give records or "
                                 "named columns", "data.features")
        check_columns(parent.encoder_.names_, len(parent.encoder_.names_), table.names,
                      len(table.names), True)
        encoded = parent.encoder_.transform(table)[0]
        names: list[str] | None = parent.feature_names_
    else:
        if isinstance(X, Table):
            X = np.column_stack([np.asarray(c, dtype=np.float64) for c in X.columns])
        elif table is not None:
            raise WarmStartError("the parent was trained on a numeric matrix; give rows of "
                                 "numbers", "data.features")
        encoded = as_float_matrix(X, "X", check_finite=True)
        check_columns(parent.feature_names_, parent.n_features_in_,
                      None if feature_names is None else list(feature_names),
                      encoded.shape[1], False)
        names = parent.feature_names_
    labels, y_idx, added = merge_classes(parent.classes_, y)
    if y_idx.shape[0] != encoded.shape[0]:
        raise ValueError(f"X and y lengths differ: {encoded.shape[0]} rows, {y_idx.shape[0]} "
                         "labels")
    return Start(encoded, names, parent.encoder_, parent.scaler_, labels, y_idx, added)


def seed_network(net: Network, parent: Network, parent_classes: np.ndarray,
                 classes: np.ndarray) -> None:
    """Copy the parent's weights into ``net`` (already initialised fresh from the RNG).

    Hidden layers are copied whole; in the output layer each of the parent's classes keeps its
    column of weights and its bias, and the classes the parent lacked keep their fresh values.

    Parameters
    ----------
    net : Network
        Sizes ``[n_inputs, *hidden, len(classes)]``.
    parent : Network
        Sizes ``[n_inputs, *hidden, len(parent_classes)]``.
    parent_classes : ndarray of shape (n_parent_classes,)
    classes : ndarray of shape (n_classes,)
        Sorted; contains every parent class.
    """
    for mine, theirs in zip(net.weights[:-1] + net.biases[:-1],
                            parent.weights[:-1] + parent.biases[:-1], strict=True):
        mine[...] = theirs
    at = np.searchsorted(classes, parent_classes)
    net.weights[-1][:, at] = parent.weights[-1]
    net.biases[-1][at] = parent.biases[-1]
