"""TF Serving's REST API under ``/v1/models`` (HTTP translation only).

Model status, metadata, ``:predict`` and ``:classify``, addressed by model name and optionally
``/versions/<n>`` or ``/labels/<alias>``; errors are ``{"error": "..."}`` as TF Serving gives them.
The semantics live in ``service.handlers.tfserving``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import Any

import orjson
from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from werkzeug.routing import BaseConverter

from service.api.body import parse_json, request_body
from service.api.docs import View, body_doc, path_params
from service.api.problems import register_protocol_errors
from service.errors import BadRequest, ServiceError
from service.handlers import tfserving
from service.runtime import get_runtime

blp = Blueprint("tfserving", __name__, description="TensorFlow Serving REST API (/v1/models)")


class SegmentConverter(BaseConverter):
    """A path segment without ':', as TF Serving routes them (``[^/:]+``).

    ``/v1/models/iris:predict`` is then only the predict route, never ``GET /v1/models/<name>``
    with the name ``iris:predict``: a GET there is a 405 that allows POST alone.
    """

    regex = "[^/:]+"


# Registered before the routes below: their rules are added in this order.
blp.record_once(lambda state: state.app.url_map.converters.update(tfsegment=SegmentConverter))

_NUMBER_ROWS = {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}


class TFErrorSchema(Schema):
    error = fields.String(metadata={"description": "What went wrong."})


class TFStatusSchema(Schema):
    version = fields.String(metadata={"example": "3"})
    state = fields.String(metadata={"example": "AVAILABLE"})
    status = fields.Dict(metadata={"example": {"error_code": "OK", "error_message": ""}})


class TFModelStatusSchema(Schema):
    model_version_status = fields.List(fields.Nested(TFStatusSchema))


class TFModelSpecSchema(Schema):
    name = fields.String()
    signature_name = fields.String()
    version = fields.String()


class TFModelMetadataSchema(Schema):
    model_spec = fields.Nested(TFModelSpecSchema)
    metadata = fields.Dict(metadata={"description": "``signature_def``: the serving_default "
                                     "signature, input features [-1, n_features] DT_FLOAT, "
                                     "output probabilities [-1, n_classes] DT_FLOAT."})


class TFPredictRequestSchema(Schema):
    signature_name = fields.String(metadata={"example": "serving_default"})
    instances = fields.Raw(metadata={**_NUMBER_ROWS, "description": (
        "Row format: one list of feature values per row (or objects keyed by feature name, or "
        "{\"features\": [...]}). Give instances or inputs, not both.")})
    inputs = fields.Raw(metadata={"description": (
        "Columnar format: the rows as one tensor, {\"features\": rows} or {feature_name: "
        "column}.")})


class TFPredictResponseSchema(Schema):
    predictions = fields.Raw(metadata={**_NUMBER_ROWS, "description": (
        "Row format answer: class probabilities per row, columns in the order of classes.")})
    outputs = fields.Raw(metadata={**_NUMBER_ROWS, "description": "Columnar format answer."})


class TFClassifyRequestSchema(Schema):
    signature_name = fields.String()
    context = fields.Dict(metadata={"description": "Features shared by every example."})
    examples = fields.Raw(required=True, metadata={
        "type": "array", "items": {}, "description": (
            "Each a list of feature values or an object keyed by feature name.")})


class TFClassifyResponseSchema(Schema):
    result = fields.Raw(metadata={"type": "array", "description": (
        "Per example, [label, score] for every class."), "items": {"type": "array", "items": {
            "type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}]}}}})


def error_response(error: ServiceError) -> Response:
    """``{"error": "..."}``; validation failures (422 in our own API) are 400 here."""
    status = 400 if error.status == 422 else error.status
    resp = Response(orjson.dumps({"error": error.detail}), status=status,
                    mimetype="application/json")
    for name, value in error.headers.items():
        resp.headers[name] = value
    return resp


register_protocol_errors("/v1/", error_response)


def errors(*codes: int) -> Callable[[View], View]:
    """Document ``{"error": ...}`` responses."""
    decorators = [blp.alt_response(code, schema=TFErrorSchema, content_type="application/json",
                                   success=False) for code in codes]
    return lambda func: reduce(lambda f, d: d(f), decorators, func)


def _json(body: object) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                    mimetype="application/json")


def _body() -> dict[str, Any]:
    doc = parse_json(request_body())
    if not isinstance(doc, dict):
        raise BadRequest("the request body must be a JSON object")
    return doc


_MODEL = "/v1/models/<tfsegment:name>"
_VERSION = "/v1/models/<tfsegment:name>/versions/<tfsegment:version>"
_LABEL = "/v1/models/<tfsegment:name>/labels/<tfsegment:label>"
# The documented path parameters: what the handlers can find (anything else is a 404, or a 400
# for a version that is not a number); a conformant one never contains ':'.
_LABEL_PATTERN = r"^(?:latest|(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9._-]{0,63})$"
_MODEL_PARAMS = path_params("name")
_VERSION_PARAMS = path_params("name", "version")
_LABEL_PARAMS = [*_MODEL_PARAMS, {
    "in": "path", "name": "label", "required": True, "example": "production",
    "description": "Version label: an alias of the model, or 'latest' (the newest version).",
    "schema": {"type": "string", "pattern": _LABEL_PATTERN}}]


@blp.route(_MODEL, methods=["GET"], endpoint="model_status",
           parameters=_MODEL_PARAMS)
@blp.route(_VERSION, methods=["GET"], endpoint="version_status",
           parameters=_VERSION_PARAMS)
@blp.route(_LABEL, methods=["GET"], endpoint="label_status",
           parameters=_LABEL_PARAMS)
@blp.response(200, TFModelStatusSchema)
@errors(400, 404)
def model_status(name: str, version: str | None = None, label: str | None = None) -> Response:
    """Model status: every version (or the one named), each AVAILABLE."""
    return _json(tfserving.model_status(get_runtime().store, name, version, label))


@blp.route(f"{_MODEL}/metadata", methods=["GET"], endpoint="model_metadata",
           parameters=_MODEL_PARAMS)
@blp.route(f"{_VERSION}/metadata", methods=["GET"], endpoint="version_metadata",
           parameters=_VERSION_PARAMS)
@blp.route(f"{_LABEL}/metadata", methods=["GET"], endpoint="label_metadata",
           parameters=_LABEL_PARAMS)
@blp.response(200, TFModelMetadataSchema)
@errors(400, 404)
def model_metadata(name: str, version: str | None = None,
                   label: str | None = None) -> Response:
    """Model metadata: the serving_default signature of the version (default: the newest)."""
    return _json(tfserving.model_metadata(get_runtime().store, name, version, label))


@blp.route(f"{_MODEL}:predict", methods=["POST"], endpoint="model_predict",
           parameters=_MODEL_PARAMS)
@blp.route(f"{_VERSION}:predict", methods=["POST"], endpoint="version_predict",
           parameters=_VERSION_PARAMS)
@blp.route(f"{_LABEL}:predict", methods=["POST"], endpoint="label_predict",
           parameters=_LABEL_PARAMS)
@body_doc(TFPredictRequestSchema)
@blp.response(200, TFPredictResponseSchema)
@errors(400, 404, 413, 415)
def predict(name: str, version: str | None = None, label: str | None = None) -> Response:
    """Class probabilities per row: instances → predictions, inputs → outputs."""
    runtime = get_runtime()
    return _json(tfserving.predict(runtime.cache, runtime.settings, name, _body(),
                                   version, label))


@blp.route(f"{_MODEL}:classify", methods=["POST"], endpoint="model_classify",
           parameters=_MODEL_PARAMS)
@blp.route(f"{_VERSION}:classify", methods=["POST"], endpoint="version_classify",
           parameters=_VERSION_PARAMS)
@blp.route(f"{_LABEL}:classify", methods=["POST"], endpoint="label_classify",
           parameters=_LABEL_PARAMS)
@body_doc(TFClassifyRequestSchema)
@blp.response(200, TFClassifyResponseSchema)
@errors(400, 404, 413, 415)
def classify(name: str, version: str | None = None, label: str | None = None) -> Response:
    """Every class label with its score, per example."""
    runtime = get_runtime()
    return _json(tfserving.classify(runtime.cache, runtime.settings, name, _body(),
                                    version, label))
