"""A fitted ``MLPClassifier`` as an artifact's ``ModelState`` (``models.artifact``), and back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from .artifact import ModelState
from .network import Network
from .preprocessing import LabelEncoder, StandardScaler

if TYPE_CHECKING:
    from .classifier import MLPClassifier


def state_of(clf: MLPClassifier) -> ModelState:
    """What ``clf`` (fitted) saves: its parameters, weights, standardisation, classes and
    encoding."""
    return ModelState(
        params=clf.get_params(), weights=clf.network_.weights, biases=clf.network_.biases,
        mean=clf.scaler_.mean_, scale=clf.scaler_.scale_, classes=clf.classes_,
        feature_names=clf.feature_names_, encoder=clf.encoder_)


def explicit_state(clf: MLPClassifier, weights: Sequence[ArrayLike],
                   biases: Sequence[ArrayLike], classes: ArrayLike, mean: ArrayLike | None,
                   scale: ArrayLike | None, feature_names: Sequence[str] | None) -> ModelState:
    """A state from explicit parameters (see ``MLPClassifier.from_weights``), in the dtype of
    ``clf`` (unfitted, built with the parameters); not yet validated.

    Parameters
    ----------
    clf : MLPClassifier
    weights : list of array-like of shape (fan_in, fan_out)
    biases : list of array-like of shape (fan_out,)
    classes : array-like of shape (n_classes,)
    mean, scale : array-like of shape (n_features,), or None for mean 0, scale 1
    feature_names : sequence of str, optional
    """
    n_features = np.shape(weights[0])[0]
    return ModelState(
        params=clf.get_params(),
        weights=[np.asarray(W, dtype=clf.dtype) for W in weights],
        biases=[np.asarray(b, dtype=clf.dtype) for b in biases],
        mean=np.zeros(n_features) if mean is None else np.asarray(mean, dtype=np.float64),
        scale=np.ones(n_features) if scale is None else np.asarray(scale, dtype=np.float64),
        classes=LabelEncoder(classes).classes_,
        feature_names=None if feature_names is None else list(feature_names))


def from_state(cls: type[MLPClassifier], state: ModelState) -> MLPClassifier:
    """The fitted classifier ``state`` holds (``state`` already validated)."""
    clf = cls(**state.params)
    sizes = [state.weights[0].shape[0]] + [W.shape[1] for W in state.weights]
    net = Network(sizes, clf.activation, clf.dtype)
    for target, source in zip(net.weights + net.biases, state.weights + state.biases,
                              strict=True):
        target[...] = source
    clf.network_ = net
    clf.scaler_ = StandardScaler(state.mean, state.scale)
    encoder = LabelEncoder(state.classes)
    clf.classes_ = encoder.classes_
    clf.encoder_, clf.feature_names_ = state.encoder, state.feature_names
    clf.n_features_in_ = sizes[0] if state.encoder is None else len(state.encoder.names_)
    clf.history_, clf.cancelled_, clf.classes_added_ = [], False, []
    return clf
