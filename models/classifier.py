"""``MLPClassifier``: the scikit-learn-style face of the engine (fit, predict, save, load)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from typing import IO, Any, cast

import numpy as np
from numpy.typing import ArrayLike

from . import artifact, artifact_state, fit_setup, inputs
from .activations import DERIVATIVES
from .network import Network
from .optimizers import make_optimizer
from .params import DEFAULTS, PARAM_RANGES, TABULAR_DEFAULTS, TRAINABLE_ACTIVATIONS, check_params
from .preprocessing import StandardScaler
from .tabular import TabularInput
from .training import Batches, EpochCallback, stratified_split, train


class MLPClassifier:
    """Multi-layer perceptron classifier trained with mini-batch SGD or Adam on cross-entropy.

    ``X`` is either a numeric matrix or tabular input (records, named columns or a ``Table``)
    with numeric, boolean and categorical columns and missing cells; tabular input is encoded by
    a ``TabularEncoder`` learned in ``fit`` and kept in the model. Inputs are then standardised
    (statistics from the training part), hidden layers use ``activation`` and the output layer
    softmax. Parameters are validated on construction and
    again by ``fit``; every error is a ``ValueError`` naming the parameter. ``PARAM_RANGES``
    describes the valid values.

    Parameters
    ----------
    hidden_layers : sequence of int
        Units per hidden layer (an empty sequence gives multinomial logistic regression).
    activation : {"relu", "sigmoid", "tanh", "step"}
        Hidden activation; ``step`` only for inference (``fit`` rejects it).
    optimizer : {"adam", "momentum", "sgd"}
        ``sgd`` is plain mini-batch SGD; ``momentum`` adds ``momentum`` (Nesterov's form with
        ``nesterov``).
    learning_rate : float
    epochs : int
        Maximum passes over the training part.
    batch_size : int
    l2 : float
        Weight decay: adds ``l2 / 2 * sum(W ** 2)`` to the loss (biases excluded).
    validation_split : float
        Fraction of rows held out, stratified by class, for ``val_*`` metrics and early
        stopping; 0 for none.
    early_stopping : bool
        Stop after ``patience`` epochs without a lower validation loss (training loss when there
        is no validation part) and restore the best epoch's weights.
    patience : int
    seed : int
        Seeds the only random generator used (initialisation, split, shuffling).
    momentum : float
        Momentum coefficient (``momentum`` optimizer only).
    nesterov : bool
        Nesterov momentum (``momentum`` optimizer only).
    dtype : {"float32", "float64"}
        Compute dtype.
    """

    PARAM_RANGES = PARAM_RANGES
    # The constructor's parameters, checked and set by __init__.
    hidden_layers: tuple[int, ...]
    activation: str
    optimizer: str
    learning_rate: float
    epochs: int
    batch_size: int
    l2: float
    validation_split: float
    early_stopping: bool
    patience: int
    seed: int
    momentum: float
    nesterov: bool
    dtype: str
    # Set by fit() or load().
    network_: Network
    scaler_: StandardScaler
    classes_: np.ndarray
    n_features_in_: int
    feature_names_: list[str] | None
    history_: list[dict[str, Any]]
    cancelled_: bool
    classes_added_: list[Any]

    def __init__(self, hidden_layers: Sequence[int] = (64,), activation: str = "relu",
                 optimizer: str = "adam", learning_rate: float = 1e-3, epochs: int = 50,
                 batch_size: int = 32, l2: float = 0.0, validation_split: float = 0.1,
                 early_stopping: bool = True, patience: int = 10, seed: int = 0,
                 momentum: float = 0.9, nesterov: bool = False, dtype: str = "float32") -> None:
        given = dict(locals())
        params = check_params({k: given[k] for k in DEFAULTS}, allow_inference_only=True)
        for name, value in params.items():
            setattr(self, name, tuple(value) if name == "hidden_layers" else value)

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters as a JSON-serialisable dict (``hidden_layers`` as a list)."""
        params = {name: getattr(self, name) for name in DEFAULTS}
        params["hidden_layers"] = list(params["hidden_layers"])
        return params

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items() if v != DEFAULTS[k] and
                   not (k == "hidden_layers" and tuple(v) == DEFAULTS[k])}
        return f"MLPClassifier({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ------------------------------------------------------------------ training

    def fit(self, X: ArrayLike | TabularInput, y: ArrayLike,
            on_epoch: EpochCallback | None = None,
            feature_names: Sequence[str] | None = None,
            feature_types: Mapping[str, str] | None = None,
            max_categories: int = TABULAR_DEFAULTS["max_categories"],
            min_frequency: int = TABULAR_DEFAULTS["min_frequency"],
            warm_start: MLPClassifier | None = None) -> MLPClassifier:
        """Train on ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or tabular input
            Finite numbers; or tabular input: a list of records (dicts keyed by column name; a
            missing key is a missing cell), a mapping of column name to cells, or a ``Table``
            (for rows of mixed cells: ``Table.from_rows(rows, names)``). Each column's type
            (numeric, boolean, categorical) is inferred, or given by ``feature_types``.
        y : array-like of shape (n_samples,)
            Integer or string labels, at least two distinct.
        on_epoch : callable, optional
            ``on_epoch(epoch, metrics)`` after every epoch (``epoch`` counts from 1, ``metrics``
            is the ``history_`` entry); returning ``False`` stops training and sets
            ``cancelled_``.
        feature_names : sequence of str, optional
            One name per column, kept in ``feature_names_`` and in saved artifacts. Tabular
            input names its own columns.
        feature_types : mapping of str to {"numeric", "boolean", "categorical"}, optional
            Tabular input only: overrides the inferred type of the named columns.
        max_categories : int, default 32
            Tabular input: one-hot columns kept per categorical column (the most frequent),
            besides "other" (rarer and unseen categories) and "missing".
        min_frequency : int, default 2
            Tabular input: training rows a category needs for a one-hot column of its own.
        warm_start : MLPClassifier, optional
            A fitted parent to start from (``models.warm_start``): its weights, encoding and
            standardisation; ``hidden_layers`` and ``activation`` must match it and the data
            fit its input. Classes it lacks get fresh output units (``classes_added_``).

        Returns
        -------
        self : MLPClassifier

        Raises
        ------
        ValueError
            Invalid parameters, ``step`` activation, bad data, or divergence (non-finite loss);
            ``models.warm_start.WarmStartError`` when the data or parameters do not fit the
            ``warm_start`` parent;
            ``models.tabular.CellError`` (a ``ValueError``) names the row and column of a cell
            that does not fit its column.
        """
        p = check_params(self.get_params(), allow_inference_only=True)
        if p["activation"] not in DERIVATIVES:
            raise ValueError(f"activation={p['activation']!r} has no gradient and cannot be "
                             f"trained; use one of {list(TRAINABLE_ACTIVATIONS)}")
        data = fit_setup.prepare(X, y, p, feature_names, feature_types, max_categories,
                                 min_frequency, warm_start)
        X, y_idx = data.X, data.y_idx

        rng = np.random.default_rng(p["seed"])
        train_rows, val_rows = stratified_split(y_idx, p["validation_split"], rng)
        scaler = fit_setup.fit_scaler(X, train_rows, val_rows, warm_start)
        net = fit_setup.initial_network(p, X.shape[1], data.labels.classes_, rng, warm_start)
        optimizer = make_optimizer(p["optimizer"], [net.params], p["learning_rate"],
                                   p["momentum"], p["nesterov"])
        batches = Batches(X, y_idx, train_rows, scaler, p["batch_size"], net.dtype)
        history, cancelled = train(
            net, optimizer, batches, scaler.transform(X[val_rows], net.dtype), y_idx[val_rows],
            epochs=p["epochs"], l2=p["l2"], early_stopping=p["early_stopping"],
            patience=p["patience"], rng=rng, on_epoch=on_epoch)

        self.classes_added_ = data.classes_added
        self.network_, self.scaler_ = net, scaler
        self.classes_ = data.labels.classes_
        self.encoder_, self.feature_names_ = data.encoder, data.names
        self.n_features_in_ = X.shape[1] if data.encoder is None else len(data.encoder.names_)
        self.history_, self.cancelled_ = history, cancelled
        return self

    # ------------------------------------------------------------------ inference

    def predict_proba(self, X: ArrayLike | TabularInput, check_input: bool = True
                      ) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_), or tabular input
            A model trained on tabular input takes records, named columns, a ``Table``, or rows
            of cells in ``feature_names_`` order (see ``encode``).
        check_input : bool, default True
            Numeric models: check that ``X`` is a finite 2-D numeric array of the right width.
            Only a caller that has already checked it (the service, on every request) should
            pass False; unchecked input gives undefined results. Tabular input is always read
            cell by cell.

        Returns
        -------
        probs : ndarray of shape (n_samples, n_classes)
            In the model's dtype; columns in ``classes_`` order, rows summing to 1.
        """
        self._check_fitted()
        if self.encoder_ is not None or check_input:
            X = self.encode(X)[0]
        return self.predict_proba_encoded(cast(np.ndarray, X))  # encoded, or checked by caller

    def encode(self, X: ArrayLike | TabularInput) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """``X`` as the network's input columns, and what was coerced to get there.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_), or tabular input
            Tabular models: records (a missing key is a missing cell; an unknown key is an
            error), named columns, a ``Table``, or rows of cells in ``feature_names_`` order.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_inputs)
            ``n_inputs`` is ``n_features_in_`` for a numeric model, the encoder's width for a
            tabular one.
        warnings : list of dict
            Tabular models: per row, cells imputed and categories never seen in training (see
            ``TabularEncoder.transform``); always empty for a numeric model.

        Raises
        ------
        ValueError
            A cell that does not fit its column (``CellError``, naming row and column), or a
            numeric matrix of the wrong shape or with non-finite values.
        """
        self._check_fitted()
        return inputs.encode_fitted(X, self.encoder_, self.feature_names_, self.n_features_in_)

    def predict_proba_encoded(self, Z: np.ndarray) -> np.ndarray:
        """Class probabilities of rows already encoded (``encode``'s ``Z``), unchecked.

        Returns
        -------
        probs : ndarray of shape (n_samples, n_classes)
        """
        return self.network_.feedforward(self.scaler_.transform(Z, self.network_.dtype))

    def input_schema(self) -> list[dict[str, Any]] | None:
        """A tabular model's input columns: name, type, missing rate in training, whether it
        was dropped, and the categories kept or median, mean and std. None for numeric models.
        """
        self._check_fitted()
        return None if self.encoder_ is None else self.encoder_.input_schema()

    def predict(self, X: ArrayLike | TabularInput) -> np.ndarray:
        """Most probable class of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Elements of ``classes_`` (int64 or str).
        """
        probs = self.predict_proba(X)
        return self.classes_[probs.argmax(axis=1)]

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise ValueError("this MLPClassifier is not fitted yet: call fit() or load()")

    # ------------------------------------------------------------------ persistence

    @classmethod
    def from_weights(cls, weights: Sequence[ArrayLike], biases: Sequence[ArrayLike],
                     classes: ArrayLike, mean: ArrayLike | None = None,
                     scale: ArrayLike | None = None,
                     feature_names: Sequence[str] | None = None,
                     **params: Any) -> MLPClassifier:
        """Build a fitted classifier from explicit parameters (e.g. a hand-made ``step`` net).

        Parameters
        ----------
        weights : list of array-like of shape (fan_in, fan_out)
        biases : list of array-like of shape (fan_out,)
        classes : array-like of shape (n_classes,)
            Labels in output order; sorted.
        mean, scale : array-like of shape (n_features,), optional
            Input standardisation; default none (mean 0, scale 1).
        feature_names : sequence of str, optional
        **params
            Constructor parameters; ``hidden_layers`` is taken from ``weights``.

        Returns
        -------
        clf : MLPClassifier
        """
        params["hidden_layers"] = [np.shape(W)[1] for W in weights[:-1]]
        state = artifact_state.explicit_state(cls(**params), weights, biases, classes, mean,
                                              scale, feature_names)
        return artifact_state.from_state(cls, artifact.validated(state))

    def save(self, file: str | PathLike[str] | IO[bytes]) -> None:
        """Write the model as one ``.npz`` artifact to a path or binary file object."""
        self._check_fitted()
        artifact.save(artifact_state.state_of(self), file)

    @classmethod
    def load(cls, file: str | PathLike[str] | IO[bytes]) -> MLPClassifier:
        """Read a model written by ``save``; raises ``ArtifactError`` if it is not valid."""
        return artifact_state.from_state(cls, artifact.load(file))
