"""MLPClassifier: learning real data sets, determinism, input and parameter validation."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import train_test_split

from models import PARAM_RANGES, MLPClassifier
from tests.factories import offset_column

FAST = {"hidden_layers": (8,), "epochs": 3, "batch_size": 16}


def _split(loader):
    X, y = loader(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def _blobs(n=90, n_features=4, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.standard_normal((n, n_features)) + 3.0 * y[:, None]
    return X, y


@pytest.mark.slow
def test_digits_with_default_settings():
    X_train, X_test, y_train, y_test = _split(load_digits)
    clf = MLPClassifier().fit(X_train, y_train)
    assert np.mean(clf.predict(X_test) == y_test) >= 0.97


@pytest.mark.slow
def test_iris():
    # 112 training rows: 50 epochs of batch 32 at lr 1e-3 is only ~200 steps, and early stopping
    # on a 12-row validation part is noise, so this one trains longer without it.
    X_train, X_test, y_train, y_test = _split(load_iris)
    clf = MLPClassifier(epochs=300, early_stopping=False).fit(X_train, y_train)
    assert np.mean(clf.predict(X_test) == y_test) >= 0.93


def test_same_seed_gives_bit_identical_weights_and_history():
    X, y = _blobs()
    a = MLPClassifier(**FAST, seed=7).fit(X, y)
    b = MLPClassifier(**FAST, seed=7).fit(X, y)
    c = MLPClassifier(**FAST, seed=8).fit(X, y)
    np.testing.assert_array_equal(a.network_.params, b.network_.params)
    assert a.history_ == b.history_
    assert not np.array_equal(a.network_.params, c.network_.params)


def test_uses_no_global_random_state():
    X, y = _blobs()
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    MLPClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_history_and_fitted_attributes():
    X, y = _blobs()
    names = ["a", "b", "c", "d"]
    clf = MLPClassifier(**FAST).fit(X, y, feature_names=names)
    assert [m["epoch"] for m in clf.history_] == [1, 2, 3]
    assert set(clf.history_[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(isinstance(clf.history_[0][k], float) for k in ("loss", "val_accuracy"))
    assert clf.n_features_in_ == 4 and clf.feature_names_ == names and clf.cancelled_ is False
    assert clf.network_.params.dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float32
    no_val = MLPClassifier(**FAST, validation_split=0.0).fit(X, y)
    assert no_val.history_[-1]["val_loss"] is None and no_val.history_[-1]["val_accuracy"] is None
    assert no_val.feature_names_ is None


def test_float64_dtype():
    X, y = _blobs()
    clf = MLPClassifier(**FAST, dtype="float64").fit(X, y)
    assert clf.network_.params.dtype == np.float64
    assert clf.predict_proba(X).dtype == np.float64


@pytest.mark.parametrize(("activation", "optimizer", "nesterov"), [
    ("relu", "adam", False), ("tanh", "sgd", True), ("sigmoid", "sgd", False)])
def test_each_configuration_learns_separable_blobs(activation, optimizer, nesterov):
    X, y = _blobs(n=150)
    clf = MLPClassifier(hidden_layers=(16, 8), activation=activation, optimizer=optimizer,
                        nesterov=nesterov, learning_rate=0.05 if optimizer == "sgd" else 0.01,
                        epochs=30, l2=1e-4).fit(X, y)
    assert np.mean(clf.predict(X) == y) > 0.9


def test_string_labels_stay_strings():
    X, y = _blobs()
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier(**FAST).fit(X, list(labels))
    assert clf.classes_.dtype.kind == "U" and list(clf.classes_) == sorted(set(labels))
    pred = clf.predict(X)
    assert pred.dtype.kind == "U" and set(pred) <= set(labels)


def test_callback_false_stops_training_and_sets_cancelled():
    X, y = _blobs()
    seen = []

    def on_epoch(epoch, metrics):
        seen.append((epoch, dict(metrics)))
        return epoch < 2

    clf = MLPClassifier(**{**FAST, "epochs": 10}).fit(X, y, on_epoch=on_epoch)
    assert [e for e, _ in seen] == [1, 2] and len(clf.history_) == 2
    assert clf.cancelled_ is True
    assert seen[0][1] == clf.history_[0]
    assert clf.predict(X).shape == (90,)             # still usable


def test_callback_returning_none_does_not_stop():
    X, y = _blobs()
    clf = MLPClassifier(**FAST).fit(X, y, on_epoch=lambda epoch, metrics: None)
    assert len(clf.history_) == 3 and clf.cancelled_ is False


def test_early_stopping_waits_patience_epochs_after_the_best():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 20)), rng.integers(0, 2, 200)   # nothing to learn
    clf = MLPClassifier(hidden_layers=(64,), learning_rate=0.01, epochs=200, patience=5,
                        validation_split=0.3).fit(X, y)
    val_losses = [m["val_loss"] for m in clf.history_]
    best_epoch = int(np.argmin(val_losses)) + 1
    assert len(clf.history_) == best_epoch + 5 < 200


def test_no_warnings_for_inputs_around_1e6():
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for activation in ("relu", "sigmoid", "tanh"):
            clf = MLPClassifier(**FAST, activation=activation).fit(X * 1e6 + 1e6, y)
            P = clf.predict_proba(np.vstack([X * 1e6, -X * 1e6, np.full((1, 4), 1e7)]))
            assert np.all(np.isfinite(P))
            np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-5)


def test_a_column_at_1e6_keeps_the_accuracy_it_has_at_0():
    accuracies = []
    for offset in (0.0, 1e6):
        X, y = offset_column(offset)
        clf = MLPClassifier(hidden_layers=(8,), epochs=30, seed=0).fit(X[:300], y[:300])
        accuracies.append(float(np.mean(clf.predict(X[300:]) == y[300:])))
    assert accuracies[0] > 0.9
    assert accuracies[1] == pytest.approx(accuracies[0], abs=0.02)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(4, 40), n_features=st.integers(1, 6), n_classes=st.integers(2, 4),
       n_predict=st.integers(0, 10), seed=st.integers(0, 2**32 - 1))
def test_predict_proba_shape_and_row_sums(n, n_features, n_classes, n_predict, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_features)) * 10.0 ** rng.integers(-3, 4)
    y = np.arange(n) % n_classes
    clf = MLPClassifier(hidden_layers=(5,), epochs=2, batch_size=8, seed=seed).fit(X, y)
    P = clf.predict_proba(rng.standard_normal((n_predict, n_features)))
    assert P.shape == (n_predict, n_classes)
    assert np.all(P >= 0) and np.all(np.isfinite(P))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(("X", "y", "message"), [
    ([[1.0, np.nan], [2.0, 3.0]], [0, 1], "NaN or infinity"),
    ([[1.0, np.inf], [2.0, 3.0]], [0, 1], "NaN or infinity"),
    ([[1.0, 2.0], [2.0, 3.0]], [0, 1, 1], "lengths differ"),
    ([[1.0, 2.0], [2.0, 3.0]], [1, 1], "fewer than 2 classes"),
    (np.empty((0, 3)), [], "empty"),
    (np.empty((3, 0)), [0, 1, 0], "empty"),
    ([1.0, 2.0, 3.0], [0, 1, 0], "2-D"),
    (np.ones((2, 2, 2)), [0, 1], "2-D"),
    ([["a", "b"], ["c", "d"]], [0, 1], "numeric"),
])
def test_fit_rejects_bad_data(X, y, message):
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**FAST).fit(X, y)


@pytest.mark.parametrize("row", range(6))
def test_fit_finds_nan_in_training_and_validation_rows(row):
    X, y = _blobs(n=12)
    X[row, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        MLPClassifier(**FAST, validation_split=0.5).fit(X, y)


def test_huge_float32_inputs_train_without_warnings():
    X, y = _blobs()
    X32 = (X * 1e30).astype(np.float32)          # squares overflow float32: stats redone in f64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = MLPClassifier(**FAST).fit(X32, y)
        assert np.all(np.isfinite(clf.predict_proba(X32)))
    assert np.all(np.isfinite(clf.scaler_.scale_))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_divergence_is_a_value_error_not_a_warning(seed):
    # wide relu layers at the largest learning rate diverge from every seed tried (0-7)
    X, y = _blobs(n=200)
    clf = MLPClassifier(hidden_layers=(256, 256), optimizer="momentum", learning_rate=10.0,
                        momentum=0.9, epochs=50, early_stopping=False, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="diverged"):
            clf.fit(X, y)


def test_fit_rejects_step_activation_but_constructor_allows_it():
    clf = MLPClassifier(activation="step")
    with pytest.raises(ValueError, match="step.*cannot be trained"):
        clf.fit(*_blobs())


@pytest.mark.parametrize(("name", "value"), [
    ("hidden_layers", [0]), ("hidden_layers", "64"), ("hidden_layers", [64.5]),
    ("hidden_layers", [8] * 9), ("activation", "softmax"), ("optimizer", "rmsprop"),
    ("learning_rate", 0.0), ("learning_rate", 11.0), ("learning_rate", float("nan")),
    ("epochs", 0), ("epochs", 2.5), ("batch_size", True), ("l2", -1.0),
    ("validation_split", 0.9), ("early_stopping", 1), ("patience", 0), ("seed", -1),
    ("momentum", 1.0), ("nesterov", "yes"), ("dtype", "float16"),
])
def test_constructor_rejects_bad_params_naming_them(name, value):
    with pytest.raises(ValueError, match=name):
        MLPClassifier(**{name: value})


def test_fit_revalidates_params_changed_after_construction():
    clf = MLPClassifier(**FAST)
    clf.learning_rate = -1.0
    with pytest.raises(ValueError, match="learning_rate"):
        clf.fit(*_blobs())


def test_get_params_round_trips_and_is_json():
    clf = MLPClassifier(hidden_layers=(32, 16), activation="tanh", optimizer="sgd", l2=0.01)
    params = clf.get_params()
    assert params["hidden_layers"] == [32, 16]
    assert json.loads(json.dumps(params)) == params
    assert MLPClassifier(**params).get_params() == params
    assert set(params) == set(PARAM_RANGES) == set(MLPClassifier.PARAM_RANGES)
    assert MLPClassifier().get_params() == {
        "hidden_layers": [64], "activation": "relu", "optimizer": "adam", "learning_rate": 1e-3,
        "epochs": 50, "batch_size": 32, "l2": 0.0, "validation_split": 0.1,
        "early_stopping": True, "patience": 10, "seed": 0, "momentum": 0.9, "nesterov": False,
        "dtype": "float32"}
    json.dumps(PARAM_RANGES)


def test_predict_checks_fitted_and_feature_count():
    with pytest.raises(ValueError, match="not fitted"):
        MLPClassifier().predict([[1.0]])
    clf = MLPClassifier(**FAST).fit(*_blobs())
    with pytest.raises(ValueError, match="features"):
        clf.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        clf.predict([[np.nan, 1.0, 2.0, 3.0]])


def test_step_network_from_weights_for_inference():
    # XOR with threshold units: h1 = x1 OR x2, h2 = x1 AND x2, out = h1 AND NOT h2
    clf = MLPClassifier.from_weights(
        weights=[[[1.0, 1.0], [1.0, 1.0]], [[-1.0, 1.0], [1.0, -2.0]]],
        biases=[[-0.5, -1.5], [0.5, -0.5]], classes=[0, 1], activation="step")
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    assert list(clf.predict(X)) == [0, 1, 1, 0]
    assert clf.get_params()["hidden_layers"] == [2]


def test_engine_imports_numpy_only():
    code = ("import sys, models; bad = {'sklearn', 'flask', 'scipy'} & set(sys.modules); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_every_optimizer_learns(optimizer):
    X, y = _blobs(n=300)
    clf = MLPClassifier(hidden_layers=(16,), optimizer=optimizer, learning_rate=0.05,
                        epochs=30, early_stopping=False, nesterov=optimizer == "momentum")
    assert clf.fit(X, y).history_[-1]["loss"] < clf.history_[0]["loss"]
    assert np.mean(clf.predict(X) == y) > 0.9


def test_plain_sgd_ignores_momentum():
    X, y = _blobs(n=100)
    runs = [MLPClassifier(hidden_layers=(8,), optimizer="sgd", momentum=m, epochs=3,
                          early_stopping=False).fit(X, y) for m in (0.0, 0.9)]
    np.testing.assert_array_equal(runs[0].network_.params, runs[1].network_.params)
