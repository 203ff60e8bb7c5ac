"""TF Serving's REST API under ``/v1/models`` (HTTP translation only).

Model status, metadata, ``:predict`` and ``:classify``, addressed by model name and optionally
``/versions/<n>`` or ``/labels/<alias>``; errors are ``{"error": "..."}`` as TF Serving gives them.
The semantics live in ``service.handlers.tfserving``.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from werkzeug.routing import BaseConverter

from service.api.body import parse_json, request_body
from service.api.docs import body_doc, path_params
from service.api.problems import register_protocol_errors
from service.api.protocol import error_response, errors, json_response
from service.errors import BadRequest
from service.handlers import tfserving
from service.names import FLOAT32_MAX, LABEL_PATTERN
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


# The request bodies, as the handlers read them. What JSON Schema cannot say is left to the
# handler's 400: the feature count and the feature names (they depend on the model), rows of
# one length, columns of one length, features given both in an example and in the context.
_NUMBER = {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}
_ROW = {"type": "array", "minItems": 1, "items": _NUMBER}
_ROWS = {"type": "array", "minItems": 1, "items": _ROW}
_FEATURE = {"oneOf": [_NUMBER, {"type": "array", "minItems": 1, "maxItems": 1, "items": _NUMBER}]}
_NAMED_ROW = {"type": "object", "properties": {"features": _ROW}, "additionalProperties": _FEATURE,
              "description": "{\"features\": row}, or one value per feature name."}
_SIGNATURE = {"type": "string", "enum": ["", "serving_default", None], "nullable": True,
              "example": "serving_default"}
TF_PREDICT_REQUEST = {
    "type": "object",
    "properties": {
        "signature_name": _SIGNATURE,
        "instances": {"oneOf": [_ROWS, {**_ROWS, "items": {**_NAMED_ROW, "minProperties": 1}}],
                      "description": "Row format: one list of feature values per row, or one "
                                     "object per row keyed by feature name (or {\"features\": "
                                     "[...]})."},
        "inputs": {"oneOf": [_ROWS, {
            "type": "object", "minProperties": 1, "properties": {"features": _ROWS},
            "additionalProperties": {"oneOf": [
                {"type": "array", "minItems": 1, "items": _NUMBER},
                {"type": "array", "minItems": 1, "items": _FEATURE["oneOf"][1]}]}}],
            "description": "Columnar format: the rows as one tensor, {\"features\": rows} or "
                           "{feature_name: column}."},
    },
    "oneOf": [{"required": ["instances"]}, {"required": ["inputs"]}],
    "description": "Give instances or inputs, not both.",
    "example": {"instances": [[5.1, 3.5, 1.4, 0.2]]},
}
TF_CLASSIFY_REQUEST = {
    "type": "object",
    "required": ["examples"],
    "properties": {
        "signature_name": _SIGNATURE,
        "context": {"type": "object", "nullable": True, "additionalProperties": _FEATURE,
                    "description": "Features shared by every example (examples given as "
                                   "objects only)."},
        "examples": {"type": "array", "minItems": 1, "items": {"oneOf": [_ROW, _NAMED_ROW]},
                     "description": "Each a list of feature values or an object keyed by "
                                    "feature name."},
    },
    # A context is for examples given by feature name.
    "anyOf": [{"properties": {"context": {"nullable": True, "maxProperties": 0}}},
              {"properties": {"examples": {"items": {"type": "object"}}}}],
    "example": {"examples": [[5.1, 3.5, 1.4, 0.2]]},
}


class TFPredictResponseSchema(Schema):
    predictions = fields.Raw(metadata={**_NUMBER_ROWS, "description": (
        "Row format answer: class probabilities per row, columns in the order of classes.")})
    outputs = fields.Raw(metadata={**_NUMBER_ROWS, "description": "Columnar format answer."})


class TFClassifyResponseSchema(Schema):
    result = fields.Raw(metadata={"type": "array", "description": (
        "Per example, [label, score] for every class."), "items": {"type": "array", "items": {
            "type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}]}}}})


register_protocol_errors("/v1/", error_response)


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
_MODEL_PARAMS = path_params("name")
_VERSION_PARAMS = path_params("name", "version")
_LABEL_PARAMS = [*_MODEL_PARAMS, {
    "in": "path", "name": "label", "required": True, "example": "production",
    "description": "Version label: an alias of the model, or 'latest' (the newest version).",
    "schema": {"type": "string", "pattern": LABEL_PATTERN}}]


@blp.route(_MODEL, methods=["GET"], endpoint="model_status",
           parameters=_MODEL_PARAMS)
@blp.route(_VERSION, methods=["GET"], endpoint="version_status",
           parameters=_VERSION_PARAMS)
@blp.route(_LABEL, methods=["GET"], endpoint="label_status",
           parameters=_LABEL_PARAMS)
@blp.response(200, TFModelStatusSchema)
@errors(blp, 400, 404)
def model_status(name: str, version: str | None = None, label: str | None = None) -> Response:
    """Model status: every version (or the one named), each AVAILABLE."""
    return json_response(tfserving.model_status(get_runtime().store, name, version, label))


@blp.route(f"{_MODEL}/metadata", methods=["GET"], endpoint="model_metadata",
           parameters=_MODEL_PARAMS)
@blp.route(f"{_VERSION}/metadata", methods=["GET"], endpoint="version_metadata",
           parameters=_VERSION_PARAMS)
@blp.route(f"{_LABEL}/metadata", methods=["GET"], endpoint="label_metadata",
           parameters=_LABEL_PARAMS)
@blp.response(200, TFModelMetadataSchema)
@errors(blp, 400, 404)
def model_metadata(name: str, version: str | None = None,
                   label: str | None = None) -> Response:
    """Model metadata: the serving_default signature of the version (default: the newest)."""
    return json_response(tfserving.model_metadata(get_runtime().store, name, version, label))


@blp.route(f"{_MODEL}:predict", methods=["POST"], endpoint="model_predict",
           parameters=_MODEL_PARAMS)
@blp.route(f"{_VERSION}:predict", methods=["POST"], endpoint="version_predict",
           parameters=_VERSION_PARAMS)
@blp.route(f"{_LABEL}:predict", methods=["POST"], endpoint="label_predict",
           parameters=_LABEL_PARAMS)
@body_doc(TF_PREDICT_REQUEST)
@blp.response(200, TFPredictResponseSchema)
@errors(blp, 400, 404, 413, 415)
def predict(name: str, version: str | None = None, label: str | None = None) -> Response:
    """Class probabilities per row: instances → predictions, inputs → outputs."""
    runtime = get_runtime()
    return json_response(tfserving.predict(runtime.cache, runtime.settings, name, _body(),
                                   version, label))


@blp.route(f"{_MODEL}:classify", methods=["POST"], endpoint="model_classify",
           parameters=_MODEL_PARAMS)
@blp.route(f"{_VERSION}:classify", methods=["POST"], endpoint="version_classify",
           parameters=_VERSION_PARAMS)
@blp.route(f"{_LABEL}:classify", methods=["POST"], endpoint="label_classify",
           parameters=_LABEL_PARAMS)
@body_doc(TF_CLASSIFY_REQUEST)
@blp.response(200, TFClassifyResponseSchema)
@errors(blp, 400, 404, 413, 415)
def classify(name: str, version: str | None = None, label: str | None = None) -> Response:
    """Every class label with its score, per example."""
    runtime = get_runtime()
    return json_response(tfserving.classify(runtime.cache, runtime.settings, name, _body(),
                                    version, label))
