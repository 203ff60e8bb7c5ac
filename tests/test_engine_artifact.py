"""Artifacts: save/load round trips and refusal of anything that is not a valid artifact."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from models import FORMAT_VERSION, ArtifactError, MLPClassifier


def _blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return rng.standard_normal((n, 4)) + 2.0 * y[:, None], y


@pytest.fixture(scope="module")
def fitted() -> MLPClassifier:
    X, y = _blobs()
    return MLPClassifier(hidden_layers=(6, 5), epochs=3).fit(X, y, feature_names=list("abcd"))


def _to_bytes(clf: MLPClassifier) -> bytes:
    buf = io.BytesIO()
    clf.save(buf)
    return buf.getvalue()


def _arrays(clf: MLPClassifier) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(_to_bytes(clf))) as npz:
        return {name: npz[name] for name in npz.files}


def _write(arrays: dict[str, np.ndarray], **kwargs) -> io.BytesIO:
    buf = io.BytesIO()
    np.savez(buf, **arrays, **kwargs)
    buf.seek(0)
    return buf


def _with_header(arrays, **changes):
    header = json.loads(arrays["header"].tobytes())
    header.update(changes)
    return {**arrays, "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}


def test_round_trip_through_a_file_object(fitted):
    X, _ = _blobs(seed=1)
    buf = io.BytesIO(_to_bytes(fitted))
    loaded = MLPClassifier.load(buf)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    assert loaded.get_params() == fitted.get_params()
    assert loaded.classes_.dtype == np.int64 and list(loaded.classes_) == [0, 1, 2]
    assert loaded.feature_names_ == ["a", "b", "c", "d"] and loaded.n_features_in_ == 4


@pytest.mark.parametrize("as_path", [str, Path])
def test_round_trip_through_a_path_keeps_the_exact_name(tmp_path, fitted, as_path):
    path = tmp_path / "model.bin"
    fitted.save(as_path(path))
    assert path.exists() and not (tmp_path / "model.bin.npz").exists()
    X, _ = _blobs(seed=2)
    np.testing.assert_array_equal(MLPClassifier.load(as_path(path)).predict_proba(X),
                                  fitted.predict_proba(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_string_classes_and_dtype_survive(dtype):
    X, y = _blobs()
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = MLPClassifier(hidden_layers=(4,), epochs=2, dtype=dtype).fit(X, labels)
    loaded = MLPClassifier.load(io.BytesIO(_to_bytes(clf)))
    assert loaded.classes_.dtype.kind == "U" and list(loaded.classes_) == ["cat", "dog", "emu"]
    assert loaded.predict(X).dtype.kind == "U"
    assert loaded.network_.params.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_artifact_holds_only_numeric_arrays_and_a_json_header(fitted):
    arrays = _arrays(fitted)
    assert all(not a.dtype.hasobject for a in arrays.values())
    header = json.loads(arrays["header"].tobytes())
    assert header["format_version"] == FORMAT_VERSION
    assert header["architecture"] == [4, 6, 5, 3]
    assert header["label_kind"] == "int" and header["params"] == fitted.get_params()
    assert arrays["classes"].dtype.kind == "U"


def test_refuses_an_object_array(fitted):
    arrays = _arrays(fitted)
    arrays["classes"] = np.array([0, 1, 2], dtype=object)
    with pytest.raises(ArtifactError, match="object"):
        MLPClassifier.load(_write(arrays, allow_pickle=True))


def test_refuses_unknown_format_version(fitted):
    arrays = _with_header(_arrays(fitted), format_version=FORMAT_VERSION + 1)
    with pytest.raises(ArtifactError, match="format_version"):
        MLPClassifier.load(_write(arrays))


def test_refuses_a_missing_array(fitted):
    arrays = _arrays(fitted)
    del arrays["b1"]
    with pytest.raises(ArtifactError, match="lacks.*b1"):
        MLPClassifier.load(_write(arrays))


@pytest.mark.parametrize("name", ["W0", "b2", "scaler_mean", "classes"])
def test_refuses_a_misshaped_array(fitted, name):
    arrays = _arrays(fitted)
    arrays[name] = arrays[name][..., :-1]
    with pytest.raises(ArtifactError, match=name):
        MLPClassifier.load(_write(arrays))


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a.update(W1=a["W1"].astype(np.float64)), "dtype"),
    (lambda a: a["b0"].__setitem__(0, np.nan), "NaN"),
    (lambda a: a.update(extra=np.zeros(3)), "unexpected"),
    (lambda a: a.update(header=np.frombuffer(b"not json", dtype=np.uint8)), "JSON"),
    (lambda a: a.update(header=np.zeros(3, dtype=np.float32)), "header"),
    (lambda a: a.update(scaler_scale=np.zeros_like(a["scaler_scale"])), "positive"),
    (lambda a: a.update(_with_header(a, architecture=[4, 6, 5, 2])), "architecture"),
    (lambda a: a.update(_with_header(a, label_kind="float")), "label_kind"),
    (lambda a: a.update(_with_header(a, params={"epochs": 0})), "params"),
    (lambda a: a.update(_with_header(a, format="other")), "not an"),
])
def test_refuses_inconsistent_artifacts(fitted, change, message):
    arrays = _arrays(fitted)
    change(arrays)
    with pytest.raises(ArtifactError, match=message):
        MLPClassifier.load(_write(arrays))


@pytest.mark.parametrize("data", [b"", b"garbage bytes", b"PK\x03\x04 truncated zip"])
def test_refuses_non_npz_bytes(data):
    with pytest.raises(ArtifactError):
        MLPClassifier.load(io.BytesIO(data))


def test_refuses_a_plain_npy_file():
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    buf.seek(0)
    with pytest.raises(ArtifactError, match="npz"):
        MLPClassifier.load(buf)


def test_artifact_error_is_a_value_error():
    assert issubclass(ArtifactError, ValueError)


def test_saving_an_unfitted_model_fails():
    with pytest.raises(ValueError, match="not fitted"):
        MLPClassifier().save(io.BytesIO())
