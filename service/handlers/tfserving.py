"""TF Serving REST semantics (transport-free): model status, metadata, predict and classify.

Model names and versions map one to one; TF Serving's version labels are our aliases. Every
model has one signature, ``serving_default``: input ``features`` (DT_FLOAT [-1, n_features]) and
output ``probabilities`` (DT_FLOAT [-1, n_classes], columns in the order of ``classes``).
A model trained from named CSV columns also takes its features by name: each feature is then a
named input (``{"instances": [{"sepal_length": 5.1, ...}]}``, ``{"inputs": {"sepal_length":
[5.1, ...], ...}}``) and ``:classify`` examples are objects keyed by feature name.
"""

from __future__ import annotations

from typing import Any

from service.config import Settings
from service.errors import BadRequest
from service.handlers import tabular
from service.handlers.predict import predict as predict_rows
from service.handlers.predict import predict_table, read_rows
from service.handlers.protocol import (
    INPUT,
    check_name,
    feature_names,
    named_row,
    stack_columns,
    url_ref,
)
from service.model_cache import ModelCache
from service.store import ModelStore

SIGNATURE = "serving_default"
OUTPUT = "probabilities"
_OK = {"error_code": "OK", "error_message": ""}


def _url_ref(name: str, version: str | None, label: str | None) -> int | str | None:
    """``url_ref``; TF Serving names aliases under ``/labels/``, so ``/versions/`` takes numbers."""
    if version is not None and not (version.isascii() and version.isdigit()):
        check_name(name)
        raise BadRequest(f"version {version[:32]!r} must be a number; name an alias with "
                         "/labels/<label>")
    return url_ref(name, version, label)


def model_status(store: ModelStore, name: str, version: str | None = None,
                 label: str | None = None) -> dict[str, Any]:
    """``GetModelStatusResponse``: every version, or the one the URL names."""
    ref = _url_ref(name, version, label)
    versions = store.versions(name) if ref is None else [store.resolve(name, ref)]
    return {"model_version_status": [
        {"version": str(v), "state": "AVAILABLE", "status": dict(_OK)} for v in versions]}


def _tensor_info(name: str, width: int) -> dict[str, Any]:
    dims = [{"size": "-1", "name": ""}, {"size": str(width), "name": ""}]
    return {"dtype": "DT_FLOAT", "tensor_shape": {"dim": dims, "unknown_rank": False},
            "name": f"{name}:0"}


def model_metadata(store: ModelStore, name: str, version: str | None = None,
                   label: str | None = None) -> dict[str, Any]:
    """``GetModelMetadataResponse`` with the ``signature_def`` of the version the URL names."""
    v = store.resolve(name, _url_ref(name, version, label))
    meta = store.meta(name, v)
    signature = {"inputs": {INPUT: _tensor_info(INPUT, meta["n_features"])},
                 "outputs": {OUTPUT: _tensor_info(OUTPUT, len(meta["classes"]))},
                 "method_name": "tensorflow/serving/predict"}
    return {"model_spec": {"name": name, "signature_name": "", "version": str(v)},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}}}


def _check_signature(doc: dict[str, Any]) -> None:
    name = doc.get("signature_name")
    if name not in (None, "", SIGNATURE):
        raise BadRequest(f"Serving signature name: {str(name)[:64]!r} not found in signature "
                         f"def; the only signature is {SIGNATURE!r}")


_BY_NAME = object()  # what _named_input answers for an object keyed by feature name


def _named_input(value: Any, names: list[str] | None, field: str) -> Any:
    """Rows from ``{"features": rows}``, or ``_BY_NAME`` for one value per feature name."""
    if set(value) == {INPUT} and not (names and INPUT in names):
        return value[INPUT]
    if names:
        return _BY_NAME
    raise BadRequest(f"{field}: unknown input {_first_key(value)!r}; the signature's input is "
                     f"{INPUT!r} (this model has no named features)")


def _first_key(value: dict[str, Any]) -> str:
    keys = [k for k in value if k != INPUT] or list(value) or [""]
    return str(keys[0])[:64]


def _instances(value: Any, names: list[str] | None) -> Any:
    if not isinstance(value, list) or not value:
        raise BadRequest("instances: must be a non-empty list, one instance per row")
    if not isinstance(value[0], dict):
        return value  # rows of numbers, checked by the predict handler
    rows = []
    for index, obj in enumerate(value):
        field = f"instances[{index}]"
        if not isinstance(obj, dict):
            raise BadRequest(f"{field}: must be an object like instances[0]")
        row = _named_input(obj, names, field)
        rows.append(named_row(obj, names, field) if row is _BY_NAME and names else row)
    return rows


def _inputs(value: Any, names: list[str] | None) -> Any:
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        raise BadRequest("inputs: must be a list of rows or an object of named inputs")
    rows = _named_input(value, names, "inputs")
    return stack_columns(value, names, "inputs") if rows is _BY_NAME and names else rows


def predict(cache: ModelCache, settings: Settings, name: str, doc: dict[str, Any],
            version: str | None = None, label: str | None = None) -> dict[str, Any]:
    """``:predict``: row format ``instances`` → ``predictions``, columnar ``inputs`` →
    ``outputs``; exactly one of the two."""
    loaded = cache.get(name, _url_ref(name, version, label))
    _check_signature(doc)
    has_rows, has_columns = "instances" in doc, "inputs" in doc
    if has_rows and has_columns:
        raise BadRequest("give either instances (row format) or inputs (columnar format), "
                         "not both")
    if not has_rows and not has_columns:
        raise BadRequest("missing input: give instances (row format) or inputs (columnar "
                         "format)")
    field, key = ("instances", "predictions") if has_rows else ("inputs", "outputs")
    if tabular.is_tabular(loaded):
        value = doc[field]
        bound = tabular.from_columns(value, loaded, field, settings) if isinstance(value, dict) \
            else tabular.from_instances(value, loaded, field, settings)
        return {key: predict_table(loaded, *bound).probabilities}
    names = feature_names(loaded)
    rows = _instances(doc["instances"], names) if has_rows else _inputs(doc["inputs"], names)
    result = predict_rows(loaded, read_rows(rows, settings, field), field)
    return {key: result.probabilities}


def _example(value: Any, index: int, context: dict[str, Any], names: list[str] | None) -> Any:
    field = f"examples[{index}]"
    if isinstance(value, list):
        if context:
            raise BadRequest(f"{field}: a list of feature values cannot take a context; give "
                             "examples as objects keyed by feature name")
        return value
    if not isinstance(value, dict):
        raise BadRequest(f"{field}: must be a list of feature values or an object keyed by "
                         "feature name")
    shared = sorted(set(value) & set(context))
    if shared:
        raise BadRequest(f"{field}: feature {shared[0]!r} is also in context")
    merged = {**context, **value}
    row = _named_input(merged, names, field)
    return named_row(merged, names, field) if row is _BY_NAME and names else row


def classify(cache: ModelCache, settings: Settings, name: str, doc: dict[str, Any],
             version: str | None = None, label: str | None = None) -> dict[str, Any]:
    """``:classify``: ``examples`` (and an optional shared ``context``) → ``result``, per
    example every class label (a string) with its score."""
    loaded = cache.get(name, _url_ref(name, version, label))
    _check_signature(doc)
    examples, context = doc.get("examples"), doc.get("context")
    context = {} if context is None else context
    if not isinstance(examples, list) or not examples:
        raise BadRequest("examples: must be a non-empty list of examples")
    if not isinstance(context, dict):
        raise BadRequest("context: must be an object of features shared by all examples")
    if tabular.is_tabular(loaded):
        if context and not all(isinstance(ex, dict) for ex in examples):
            raise BadRequest("examples: a context goes with examples given as objects keyed "
                             "by feature name")
        merged = [{**context, **ex} if isinstance(ex, dict) else ex for ex in examples]
        result = predict_table(loaded, *tabular.from_instances(merged, loaded, "examples",
                                                               settings))
    else:
        names = feature_names(loaded)
        rows = [_example(ex, i, context, names) for i, ex in enumerate(examples)]
        result = predict_rows(loaded, read_rows(rows, settings, "examples"), "examples")
    labels = [str(c) for c in result.classes]
    return {"result": [[[lab, score] for lab, score in zip(labels, row, strict=True)]
                       for row in result.probabilities]}  # float32 scores, as predictions
