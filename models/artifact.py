"""Model artifacts: one ``.npz`` of plain numeric arrays plus a JSON header, never pickles.

Layout (format version 2; version 1, the same without ``tabular`` and ``tab_*``, still loads)::

    header        uint8 (n_bytes,)           UTF-8 JSON: format, format_version, architecture,
                                             activation, n_features, n_classes, label_kind,
                                             feature_names, params, dtype, tabular
    W0 .. W{L-1}  dtype (fan_in, fan_out)    weight matrices
    b0 .. b{L-1}  dtype (fan_out,)           biases
    scaler_mean   float64 (n_features,)
    scaler_scale  float64 (n_features,)
    classes       unicode (n_classes,)       labels as text; ``label_kind`` says int or str
    tab_*         unicode, float64, bool,    a model trained on tabular input: its
                  int64                      ``TabularEncoder`` (see ``TabularEncoder.to_arrays``);
                                             ``feature_names`` are then its input columns

``load`` opens with ``allow_pickle=False`` and checks everything (version, names, dtypes,
shapes, finiteness) before a model is built; any problem is an ``ArtifactError``.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from os import PathLike
from typing import IO, Any

import numpy as np

from .encoder import TabularEncoder
from .params import PARAM_RANGES, check_params

FORMAT = "nnserve-mlp"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


class ArtifactError(ValueError):
    """The file is not a valid model artifact of a format version this engine reads."""


@dataclass
class ModelState:
    """Everything an artifact holds, as arrays and plain values."""

    params: dict[str, Any]
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    mean: np.ndarray
    scale: np.ndarray
    classes: np.ndarray
    feature_names: list[str] | None
    encoder: TabularEncoder | None = None


def save(state: ModelState, file: str | PathLike[str] | IO[bytes]) -> None:
    """Write ``state`` to a path (exactly that name) or a binary file object."""
    classes = np.asarray(state.classes)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": [int(state.weights[0].shape[0])] + [int(W.shape[1])
                                                            for W in state.weights],
        "activation": state.params["activation"],
        "n_features": int(state.weights[0].shape[0]),
        "n_classes": int(classes.shape[0]),
        "label_kind": "int" if classes.dtype.kind in "iu" else "str",
        "feature_names": state.feature_names,
        "params": state.params,
        "dtype": state.params["dtype"],
        "tabular": state.encoder is not None,
    }
    arrays = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    arrays.update({f"W{i}": np.asarray(W) for i, W in enumerate(state.weights)})
    arrays.update({f"b{i}": np.asarray(b) for i, b in enumerate(state.biases)})
    arrays["scaler_mean"] = np.asarray(state.mean, dtype=np.float64)
    arrays["scaler_scale"] = np.asarray(state.scale, dtype=np.float64)
    arrays["classes"] = classes.astype(str)
    if state.encoder is not None:
        arrays.update(state.encoder.to_arrays())
    if isinstance(file, str | PathLike):
        with open(file, "wb") as fh:   # a file object: np.savez would append ".npz" to a path
            np.savez(fh, allow_pickle=False, **arrays)
    else:
        np.savez(file, allow_pickle=False, **arrays)


def load(file: str | PathLike[str] | IO[bytes]) -> ModelState:
    """Read and validate an artifact from a path or binary file object.

    Raises
    ------
    OSError
        The path cannot be opened.
    ArtifactError
        Not an npz, pickled/object arrays, unknown format version, missing, extra or
        mis-shaped arrays, wrong dtypes, non-finite numbers or an inconsistent header.
    """
    try:
        npz = np.load(file, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"not an .npz artifact: {exc}") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ArtifactError("not an .npz artifact (a single .npy array)")
    try:
        with npz:
            arrays = {name: npz[name] for name in npz.files}
    except ValueError as exc:   # numpy refuses object arrays when allow_pickle=False
        raise ArtifactError(f"artifact holds a non-numeric (object/pickled) array: {exc}") from exc
    except (zipfile.BadZipFile, EOFError, KeyError, OSError) as exc:
        raise ArtifactError(f"corrupt .npz archive: {exc}") from exc
    return _from_arrays(arrays)


def _from_arrays(arrays: dict[str, np.ndarray]) -> ModelState:
    for name, arr in arrays.items():
        if arr.dtype.hasobject:
            raise ArtifactError(f"array {name!r} has object dtype; artifacts hold numbers only")
    header = _read_header(arrays)
    sizes = header["architecture"]
    L = len(sizes) - 1
    expected = {"header", "scaler_mean", "scaler_scale", "classes"}
    expected |= {f"W{i}" for i in range(L)} | {f"b{i}" for i in range(L)}
    if header["tabular"]:
        expected |= _TABULAR_ARRAYS
    missing, extra = expected - set(arrays), set(arrays) - expected
    if missing:
        raise ArtifactError(f"artifact lacks array(s) {sorted(missing)}")
    if extra:
        raise ArtifactError(f"artifact has unexpected array(s) {sorted(extra)}")

    dtype = np.dtype(header["dtype"])
    weights = [_array(arrays, f"W{i}", (sizes[i], sizes[i + 1]), dtype) for i in range(L)]
    biases = [_array(arrays, f"b{i}", (sizes[i + 1],), dtype) for i in range(L)]
    mean = _array(arrays, "scaler_mean", (sizes[0],), np.dtype(np.float64))
    scale = _array(arrays, "scaler_scale", (sizes[0],), np.dtype(np.float64))
    if not np.all(scale > 0):
        raise ArtifactError("array 'scaler_scale' must be positive")
    classes = arrays["classes"]
    if classes.dtype.kind != "U" or classes.shape != (sizes[-1],):
        raise ArtifactError(f"array 'classes' must be unicode of shape ({sizes[-1]},), got "
                            f"{classes.dtype} {classes.shape}")
    if header["label_kind"] == "int":
        try:
            classes = classes.astype(np.int64)
        except ValueError as exc:
            raise ArtifactError(f"label_kind is int but classes are {classes!r:.200}") from exc
    if len(np.unique(classes)) != len(classes) or np.any(np.sort(classes) != classes):
        raise ArtifactError("array 'classes' must hold sorted distinct labels")
    encoder = _encoder(arrays, header) if header["tabular"] else None
    return ModelState(header["params"], weights, biases, mean, scale, classes,
                      header["feature_names"], encoder)


_TABULAR_ARRAYS = {"tab_names", "tab_kinds", "tab_dropped", "tab_stats", "tab_flags",
                   "tab_categories", "tab_category_counts", "tab_rare", "tab_rare_counts",
                   "tab_options"}


def _encoder(arrays: dict[str, np.ndarray], header: dict[str, Any]) -> TabularEncoder:
    try:
        encoder = TabularEncoder.from_arrays(arrays)
    except ValueError as exc:
        raise ArtifactError(f"tabular encoder invalid: {exc}") from exc
    if encoder.n_features_out_ != header["architecture"][0]:
        raise ArtifactError(f"tabular encoder gives {encoder.n_features_out_} columns, the "
                            f"network takes {header['architecture'][0]}")
    if header["feature_names"] != encoder.names_:
        raise ArtifactError("header feature_names disagree with the tabular encoder's columns")
    return encoder


def _read_header(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = arrays.get("header")
    if raw is None:
        raise ArtifactError("artifact lacks array(s) ['header']")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ArtifactError(f"array 'header' must be 1-D uint8, got {raw.dtype} {raw.shape}")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"header is not UTF-8 JSON: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ArtifactError(f"not an {FORMAT} artifact")
    version = header.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ArtifactError(f"unsupported format_version {version!r}; this engine reads "
                            f"versions {list(READABLE_VERSIONS)}")
    if version == 1:  # before tabular input
        header["tabular"] = False
    keys = {"architecture", "activation", "n_features", "n_classes", "label_kind",
            "feature_names", "params", "dtype", "tabular"}
    if not keys <= set(header):
        raise ArtifactError(f"header lacks {sorted(keys - set(header))}")
    sizes = header["architecture"]
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(type(s) is int and s >= 1 for s in sizes)):
        raise ArtifactError(f"header architecture must be a list of positive ints, got {sizes!r}")
    if (header["n_features"], header["n_classes"]) != (sizes[0], sizes[-1]) or sizes[-1] < 2:
        raise ArtifactError("header n_features / n_classes disagree with architecture")
    if header["label_kind"] not in ("int", "str"):
        raise ArtifactError(f"header label_kind must be 'int' or 'str', got "
                            f"{header['label_kind']!r}")
    if not isinstance(header["tabular"], bool):
        raise ArtifactError("header tabular must be true or false")
    names = header["feature_names"]
    if header["tabular"]:  # the encoder's input columns, checked against it
        if not isinstance(names, list) or not all(isinstance(s, str) for s in names):
            raise ArtifactError("header feature_names must be the tabular model's columns")
    elif names is not None and (not isinstance(names, list) or len(names) != sizes[0]
                                or not all(isinstance(s, str) for s in names)):
        raise ArtifactError(f"header feature_names must be null or {sizes[0]} strings")
    try:
        params = check_params(header["params"] if isinstance(header["params"], dict) else {},
                              allow_inference_only=True)
    except ValueError as exc:
        raise ArtifactError(f"header params invalid: {exc}") from exc
    if set(params) != set(PARAM_RANGES):
        raise ArtifactError("header params incomplete")
    if (params["hidden_layers"] != sizes[1:-1] or params["activation"] != header["activation"]
            or params["dtype"] != header["dtype"]):
        raise ArtifactError("header params disagree with architecture, activation or dtype")
    header["params"] = params
    return header


def _array(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...],
           dtype: np.dtype) -> np.ndarray:
    arr = arrays[name]
    if arr.shape != shape:
        raise ArtifactError(f"array {name!r} has shape {arr.shape}, expected {shape}")
    if arr.dtype != dtype:
        raise ArtifactError(f"array {name!r} has dtype {arr.dtype}, expected {dtype}")
    if not np.all(np.isfinite(arr)):
        raise ArtifactError(f"array {name!r} holds NaN or infinity")
    return arr


def validated(state: ModelState) -> ModelState:
    """Round-trip ``state`` through the artifact format, so it gets every ``load`` check."""
    buf = io.BytesIO()
    save(state, buf)
    buf.seek(0)
    return load(buf)
