"""KServe V2 / Open Inference Protocol semantics (transport-free): metadata, readiness, infer.

A model takes one input, ``features`` of shape [-1, n_features] (any numeric datatype; a model
trained from named CSV columns also takes one [N] input per feature, named after it) and gives
``probabilities`` (FP32 [N, n_classes], columns in the order of the version's ``classes``) and
``label`` (BYTES [N], the most probable class). Outputs may be asked for as binary data
(``binary_tensor_data``) or as Triton's ``classification`` (top-k ``"score:index:label"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.tabular import Table
from service.config import Settings
from service.errors import BadRequest, ServiceUnavailable
from service.handlers import tabular
from service.handlers.predict import Prediction, predict, predict_table, read_rows
from service.handlers.protocol import INPUT, feature_names, stack_columns, url_ref
from service.handlers.tensors import BinaryData, bytes_tensor, decode_input
from service.model_cache import LoadedModel, ModelCache
from service.store import ModelStore

PLATFORM = "nnserve_numpy_mlp"
EXTENSIONS = ["binary_tensor_data", "classification"]
OUTPUTS = {"probabilities": "FP32", "label": "BYTES"}


def server_metadata(version: str) -> dict[str, Any]:
    return {"name": "nnserve", "version": version, "extensions": EXTENSIONS}


def model_metadata(store: ModelStore, name: str, version: str | None) -> dict[str, Any]:
    """``$metadata_model_response`` of the version the URL names (default: the newest)."""
    v = store.resolve(name, url_ref(name, version))
    meta = store.meta(name, v)
    n_classes = len(meta["classes"])
    schema = meta.get("input_schema")
    if schema:  # a tabular model: one [-1] tensor per feature, besides the matrix of cells
        inputs = [{"name": col["name"], "datatype": _DATATYPES[col["type"]], "shape": [-1]}
                  for col in schema]
    else:
        inputs = [{"name": INPUT, "datatype": "FP32", "shape": [-1, meta["n_features"]]}]
    return {
        "name": name,
        "versions": [str(x) for x in store.versions(name)],
        "platform": PLATFORM,
        "inputs": inputs,
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, n_classes]},
                    {"name": "label", "datatype": "BYTES", "shape": [-1]}],
    }


_DATATYPES = {"numeric": "FP64", "boolean": "BOOL", "categorical": "BYTES"}


def model_ready(cache: ModelCache, name: str, version: str | None) -> dict[str, Any]:
    """``{"name", "ready"}``: the version loads (and stays cached); unknown → NotFound."""
    ref = url_ref(name, version)
    try:
        cache.get(name, ref)
    except ServiceUnavailable:
        return {"name": name, "ready": False}
    return {"name": name, "ready": True}


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{field}: must be an object")
    return value


def _flag(params: dict[str, Any], key: str, default: bool, field: str) -> bool:
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise BadRequest(f"{field}.{key}: must be true or false")
    return value


def _matrix(inputs: list[tuple[str, np.ndarray]], loaded: LoadedModel) -> np.ndarray:
    if len(inputs) == 1:
        name, arr = inputs[0]
        if arr.ndim != 2:
            raise BadRequest(f"inputs[0]: shape {list(arr.shape)} must be [N, n_features] "
                             f"([-1, {loaded.model.n_features_in_}] for this model)")
        return arr
    names = feature_names(loaded)
    if names is None:
        raise BadRequest(f"give one input, {INPUT!r} of shape [N, n_features]; this model was "
                         "not trained with feature names, so it takes no per-feature inputs")
    columns: dict[str, np.ndarray] = {}
    for index, (name, arr) in enumerate(inputs):
        if name in columns:
            raise BadRequest(f"inputs[{index}].name: input {name!r} is given twice")
        columns[name] = arr
    return stack_columns(columns, names, "inputs")


def _table(inputs: list[tuple[str, np.ndarray]], loaded: LoadedModel,
           settings: Settings) -> tuple[Table, tabular.Locate]:
    """A tabular model's inputs: one [N] (or [N, 1]) tensor per feature, or one [N, n] tensor
    ``features`` of rows in the model's feature order."""
    if len(inputs) == 1 and inputs[0][0] == INPUT and INPUT not in tabular.columns_of(loaded):
        arr = inputs[0][1]
        if arr.ndim != 2:
            raise BadRequest(f"inputs[0]: shape {list(arr.shape)} must be [N, n_features]")
        return tabular.from_instances(arr.tolist(), loaded, "inputs[0].data", settings)
    columns: dict[str, list[object]] = {}
    for index, (name, arr) in enumerate(inputs):
        if name in columns:
            raise BadRequest(f"inputs[{index}].name: input {name!r} is given twice")
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise BadRequest(f"inputs[{index}]: shape {list(arr.shape)} must be [N] or [N, 1] "
                             f"for feature {name!r}")
        columns[name] = arr.tolist()
    return tabular.from_columns(columns, loaded, "inputs", settings)


def _classification(result: Prediction, k: Any, field: str) -> tuple[list[int], list[str]]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise BadRequest(f"{field}.classification: must be a positive integer (top k classes)")
    proba = result.probabilities
    k = min(k, proba.shape[1])
    top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    labels = [str(c) for c in result.classes]
    values = [f"{float(proba[r, i]):f}:{i}:{labels[i]}"
              for r, row in enumerate(top.tolist()) for i in row]
    return [proba.shape[0], k], values


def _output(result: Prediction, name: str, params: dict[str, Any], field: str,
            binary: bool) -> tuple[dict[str, Any], bytes | None]:
    """One ``$response_output`` (and its bytes when sent as binary data)."""
    n = result.probabilities.shape[0]
    if "classification" in params:
        if name != "probabilities":
            raise BadRequest(f"{field}.classification: only 'probabilities' can be classified")
        shape, values = _classification(result, params["classification"], field)
        data: list[str] | np.ndarray = values
        datatype = "BYTES"
    elif name == "probabilities":
        shape, datatype = list(result.probabilities.shape), "FP32"
        data = result.probabilities.ravel()
    else:
        shape, datatype, data = [n], "BYTES", [str(label) for label in result.labels]
    out: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
    if not binary:
        out["data"] = data
        return out, None
    raw = data.astype("<f4").tobytes() if isinstance(data, np.ndarray) else bytes_tensor(data)
    out["parameters"] = {"binary_data_size": len(raw)}
    return out, raw


def _outputs(result: Prediction, requested: Any,
             binary_default: bool) -> tuple[list[dict[str, Any]], bytes | None]:
    if requested is None:
        requested = [{"name": name} for name in OUTPUTS]
    if not isinstance(requested, list):
        raise BadRequest("outputs: must be a list of {name, parameters}")
    outputs, raws, seen = [], [], set()
    for index, spec in enumerate(requested):
        field = f"outputs[{index}]"
        if not isinstance(spec, dict):
            raise BadRequest(f"{field}: must be an object with a name")
        name = spec.get("name")
        if not isinstance(name, str):
            raise BadRequest(f"{field}.name: must be a string, 'probabilities' or 'label'")
        if name not in OUTPUTS:
            raise BadRequest(f"{field}.name: unknown output {str(name)[:64]!r}; this model "
                             "gives 'probabilities' and 'label'")
        if name in seen:
            raise BadRequest(f"{field}.name: output {name!r} is asked for twice")
        seen.add(name)
        params = _object(spec.get("parameters"), f"{field}.parameters")
        binary = _flag(params, "binary_data", binary_default, f"{field}.parameters")
        out, raw = _output(result, name, params, field, binary)
        outputs.append(out)
        if raw is not None:
            raws.append(raw)
    return outputs, (b"".join(raws) if raws else None)


def infer(cache: ModelCache, settings: Settings, name: str, version: str | None,
          doc: dict[str, Any], binary: bytes = b"") -> tuple[dict[str, Any], bytes | None]:
    """Run ``$inference_request`` ``doc``; returns the ``$inference_response`` and the binary
    tensor data to send after it (None when every output is JSON)."""
    loaded = cache.get(name, url_ref(name, version))
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("id: must be a string")
    params = _object(doc.get("parameters"), "parameters")
    binary_default = _flag(params, "binary_data_output", False, "parameters")
    specs = doc.get("inputs")
    if not isinstance(specs, list) or not specs:
        raise BadRequest("inputs: must be a non-empty list of input tensors")
    data = BinaryData(binary)
    cells = tabular.is_tabular(loaded)
    inputs = [decode_input(spec, index, data, cells) for index, spec in enumerate(specs)]
    data.finish()
    field = "inputs[0].data" if len(inputs) == 1 else "inputs"
    if cells:
        result = predict_table(loaded, *_table(inputs, loaded, settings))
    else:
        result = predict(loaded, read_rows(_matrix(inputs, loaded), settings, field), field)
    outputs, tail = _outputs(result, doc.get("outputs"), binary_default)
    body: dict[str, Any] = {"model_name": name, "model_version": str(result.version)}
    if request_id is not None:
        body["id"] = request_id
    body["outputs"] = outputs
    return body, tail

