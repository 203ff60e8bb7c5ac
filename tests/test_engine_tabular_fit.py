"""MLPClassifier on tabular input: fit, predict in every input form, save/load, old artifacts,
and accuracy against scikit-learn's usual preprocessing pipeline."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from models import MLPClassifier
from models.tabular import CellError, Table

FIXTURES = Path(__file__).parent / "fixtures"


def mixed_data(n: int, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """Records whose label depends on a categorical column and on a numeric column with 20%
    missing cells; plus a boolean, a rare-level categorical, an id and a constant column."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue", "grey"], n, p=[0.3, 0.3, 0.3, 0.1])
    size = rng.normal(0, 1, n)
    noise = rng.normal(0, 0.3, n)
    score = np.where(colour == "red", 1.0, np.where(colour == "green", -1.0, 0.0)) + size + noise
    label = np.where(score > 0.5, "high", np.where(score < -0.5, "low", "mid"))
    size_seen = np.where(rng.random(n) < 0.2, None, size.round(4))
    rare = rng.choice(["a", "b", "c"] + [f"r{i}" for i in range(40)], n,
                      p=[0.3, 0.3, 0.3] + [0.1 / 40] * 40)
    records = [{"colour": str(colour[i]), "size": None if size_seen[i] is None else
                float(size_seen[i]), "flag": bool(rng.random() < 0.5), "level": str(rare[i]),
                "id": f"row-{i}", "const": 1} for i in range(n)]
    return records, label


@pytest.fixture(scope="module")
def fitted():
    records, labels = mixed_data(600)
    clf = MLPClassifier(hidden_layers=(16,), epochs=30, learning_rate=0.01, seed=0)
    return clf.fit(records, labels), records, labels


def test_every_input_form_predicts_alike(fitted):
    clf, records, _ = fitted
    names = clf.feature_names_
    assert names == ["colour", "size", "flag", "level", "id", "const"]
    expected = clf.predict_proba(records)
    rows = [[r[n] for n in names] for r in records]
    columns = {n: [r[n] for r in records] for n in names}
    for form in (rows, columns, Table.from_rows(rows, names)):
        np.testing.assert_array_equal(clf.predict_proba(form), expected)
    text_rows = [["" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
                  for v in row] for row in rows]
    np.testing.assert_allclose(clf.predict_proba(Table.from_rows(text_rows, names, text=True)),
                               expected, rtol=1e-6)


def test_schema_says_what_was_learned(fitted):
    clf, _, _ = fitted
    schema = {c["name"]: c for c in clf.input_schema()}
    assert schema["colour"]["type"] == "categorical"
    assert sorted(schema["colour"]["categories"]) == ["blue", "green", "grey", "red"]
    assert schema["size"]["type"] == "numeric" and 0.1 < schema["size"]["missing_rate"] < 0.3
    assert schema["flag"]["type"] == "boolean"
    assert schema["level"]["categories"] == ["a", "b", "c"] or \
        set(schema["level"]["categories"]) >= {"a", "b", "c"}
    assert schema["id"]["dropped"] and schema["const"]["dropped"]
    assert MLPClassifier().fit(np.eye(4), [0, 1, 0, 1]).input_schema() is None


def test_coercions_are_reported(fitted):
    clf, _, _ = fitted
    _, warnings = clf.encode([{"colour": "purple", "flag": True, "level": "a"}])
    assert {"row": 0, "feature": "colour", "kind": "unseen_category", "value": "purple"} \
        in warnings
    assert {"row": 0, "feature": "size", "kind": "imputed"} in warnings
    with pytest.raises(CellError, match="'shape'") as caught:
        clf.encode([{"shape": "round"}])
    assert caught.value.column == "shape"


def test_save_and_load_keep_the_encoding(fitted):
    clf, records, _ = fitted
    buf = io.BytesIO()
    clf.save(buf)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        header = json.loads(npz["header"].tobytes())
        assert header["format_version"] == 2 and header["tabular"] is True
        assert npz["tab_categories"].dtype.kind == "U"
        assert all(not npz[name].dtype.hasobject for name in npz.files)
    buf.seek(0)
    loaded = MLPClassifier.load(buf)
    np.testing.assert_array_equal(loaded.predict_proba(records), clf.predict_proba(records))
    assert loaded.input_schema() == clf.input_schema()
    assert loaded.n_features_in_ == 6


def test_an_artifact_of_format_1_loads_and_predicts_as_it_did():
    """Written by the engine at 16cc4aa (format 1), with its probabilities at the time."""
    clf = MLPClassifier.load(FIXTURES / "iris-format1.npz")
    with np.load(FIXTURES / "iris-format1-expected.npz") as npz:
        rows, expected = npz["rows"], npz["probabilities"]
    probs = clf.predict_proba(rows)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)
    assert (probs.argmax(1) == expected.argmax(1)).all()
    assert clf.encoder_ is None and clf.feature_names_[0] == "sepal_length"
    buf = io.BytesIO()
    clf.save(buf)  # re-saved in today's format, it reads back the same
    buf.seek(0)
    np.testing.assert_array_equal(MLPClassifier.load(buf).predict_proba(rows), probs)


def test_feature_types_are_for_tabular_input_only():
    with pytest.raises(ValueError, match="feature_types applies to tabular input"):
        MLPClassifier().fit(np.eye(4), [0, 1, 0, 1], feature_types={"a": "numeric"})
    with pytest.raises(CellError, match="'zip', which is not a column"):
        MLPClassifier().fit([{"a": 1}, {"a": 2}], [0, 1], feature_types={"zip": "categorical"})
    with pytest.raises(ValueError, match="max_categories"):
        MLPClassifier().fit([{"a": 1}, {"a": 2}], [0, 1], max_categories=0)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_held_out_accuracy_matches_a_scikit_learn_pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SkMLP
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    records, labels = mixed_data(3000, seed=1)
    train_idx, test_idx = train_test_split(np.arange(len(records)), test_size=0.3,
                                           stratify=labels, random_state=0)
    ours = MLPClassifier(hidden_layers=(32,), epochs=60, learning_rate=0.003, seed=0)
    ours.fit([records[i] for i in train_idx], labels[train_idx])
    our_acc = (ours.predict([records[i] for i in test_idx]) == labels[test_idx]).mean()

    cat, num = ["colour", "level", "flag"], ["size"]
    frame = np.array([[r[c] for c in cat + num] for r in records], dtype=object)
    frame[:, 3] = [np.nan if v is None else v for v in frame[:, 3]]
    pre = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore"), [0, 1, 2]),
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), [3])])
    sk = make_pipeline(pre, SkMLP(hidden_layer_sizes=(32,), max_iter=300, random_state=0))
    sk.fit(frame[train_idx], labels[train_idx])
    sk_acc = (sk.predict(frame[test_idx]) == labels[test_idx]).mean()
    print(f"held-out accuracy: nnserve {our_acc:.4f}, scikit-learn pipeline {sk_acc:.4f}")
    assert our_acc >= sk_acc - 0.02, (our_acc, sk_acc)
