"""Warm start in the engine: a parent's weights, encoding and scaler carried over; new classes
get fresh output units; mismatches are named."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris

from models import MLPClassifier
from models.network import Network
from models.warm_start import WarmStartError, seed_network

PARAMS = {"hidden_layers": (16,), "learning_rate": 0.01, "validation_split": 0.0,
          "early_stopping": False}


def _iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def test_warm_start_on_the_same_data_lowers_the_training_loss_against_a_cold_start():
    X, y = _iris()
    parent = MLPClassifier(**PARAMS, epochs=30, seed=0).fit(X, y)
    warm = MLPClassifier(**PARAMS, epochs=3, seed=1).fit(X, y, warm_start=parent)
    cold = MLPClassifier(**PARAMS, epochs=3, seed=1).fit(X, y)
    assert warm.history_[-1]["loss"] < cold.history_[-1]["loss"]
    assert warm.history_[0]["loss"] < cold.history_[0]["loss"]
    assert warm.classes_added_ == [] and warm.scaler_ is parent.scaler_


def test_a_warm_start_on_shifted_data_adapts():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [3.0, 0.0]])
    y = np.arange(600) % 2
    X = centres[y] + rng.standard_normal((600, 2)) * 0.7
    parent = MLPClassifier(**PARAMS, epochs=20, seed=0).fit(X, y)
    shifted = X + np.where(y[:, None] == 1, [-1.5, 2.5], [1.5, 0.0])
    before = float(np.mean(parent.predict(shifted) == y))
    child = MLPClassifier(**PARAMS, epochs=15, seed=0).fit(shifted, y, warm_start=parent)
    after = float(np.mean(child.predict(shifted) == y))
    assert before < 0.9 and after > before + 0.05, (before, after)


def test_new_classes_get_fresh_output_units_the_rest_keep_their_weights():
    X, y = _iris()
    two = y < 2
    parent = MLPClassifier(**PARAMS, epochs=10, seed=0).fit(X[two], y[two])
    net = Network([4, 16, 3], "relu")
    net.initialize(np.random.default_rng(5))
    fresh = net.weights[-1][:, 2].copy()
    seed_network(net, parent.network_, parent.classes_, np.array([0, 1, 2]))
    np.testing.assert_array_equal(net.weights[0], parent.network_.weights[0])
    np.testing.assert_array_equal(net.weights[-1][:, :2], parent.network_.weights[-1])
    np.testing.assert_array_equal(net.weights[-1][:, 2], fresh)
    child = MLPClassifier(**PARAMS, epochs=20, seed=0).fit(X, y, warm_start=parent)
    assert child.classes_.tolist() == [0, 1, 2] and child.classes_added_ == [2]
    assert float(np.mean(child.predict(X) == y)) > 0.8


def test_classes_absent_from_the_new_data_are_kept():
    X, y = _iris()
    parent = MLPClassifier(**PARAMS, epochs=10, seed=0).fit(X, y)
    keep = y > 0
    child = MLPClassifier(**PARAMS, epochs=2, seed=0).fit(X[keep], y[keep], warm_start=parent)
    assert child.classes_.tolist() == [0, 1, 2]


@pytest.mark.parametrize("change, field", [({"hidden_layers": (8,)}, "params.hidden_layers"),
                                           ({"activation": "tanh"}, "params.activation")])
def test_architecture_mismatch_names_the_parameter(change, field):
    X, y = _iris()
    parent = MLPClassifier(**PARAMS, epochs=2, seed=0).fit(X, y)
    with pytest.raises(WarmStartError, match=field.split(".")[1]) as err:
        MLPClassifier(**{**PARAMS, **change}, epochs=2).fit(X, y, warm_start=parent)
    assert err.value.field == field


def test_columns_and_labels_must_fit_the_parent():
    X, y = _iris()
    names = ["a", "b", "c", "d"]
    parent = MLPClassifier(**PARAMS, epochs=2, seed=0).fit(X, y, feature_names=names)
    with pytest.raises(WarmStartError, match="3 columns"):
        MLPClassifier(**PARAMS, epochs=2).fit(X[:, :3], y, warm_start=parent)
    with pytest.raises(WarmStartError, match=r"\['e'\]") as err:
        MLPClassifier(**PARAMS, epochs=2).fit(X, y, feature_names=["a", "b", "c", "e"],
                                              warm_start=parent)
    assert err.value.field == "data.features"
    with pytest.raises(WarmStartError, match="strings") as err:
        MLPClassifier(**PARAMS, epochs=2).fit(X, np.array(["x", "y", "z"])[y],
                                              warm_start=parent)
    assert err.value.field == "data.labels"


def test_a_tabular_parent_keeps_its_encoder_and_refuses_unknown_columns():
    rng = np.random.default_rng(0)
    records = [{"colour": str(rng.choice(["red", "blue"])), "size": float(rng.normal())}
               for _ in range(200)]
    y = [int(r["colour"] == "red") for r in records]
    parent = MLPClassifier(**PARAMS, epochs=5, seed=0).fit(records, y)
    child = MLPClassifier(**PARAMS, epochs=2, seed=0).fit(records, y, warm_start=parent)
    assert child.encoder_ is parent.encoder_ and child.input_schema() == parent.input_schema()
    extra = [{**r, "weight": 1.0} for r in records]
    with pytest.raises(WarmStartError, match="weight"):
        MLPClassifier(**PARAMS, epochs=2).fit(extra, y, warm_start=parent)
