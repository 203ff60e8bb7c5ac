"""KServe V2 / Open Inference Protocol under ``/v2`` (HTTP translation only).

Health, server and model metadata, model readiness and ``/infer``, with the binary tensor data
extension both ways. Bodies are parsed whatever their Content-Type (clients often send none or
``application/octet-stream``); errors are ``{"error": "..."}``. The semantics live in
``service.handlers.kserve``.
"""

from __future__ import annotations

import orjson
from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from service.api.body import parse_json, request_body
from service.api.docs import body_doc
from service.api.problems import register_protocol_errors
from service.api.protocol import error_response, errors, json_response
from service.errors import BadRequest
from service.handlers import kserve
from service.handlers.tensors import HEADER_LENGTH, NUMERIC, split_body
from service.names import FLOAT32_MAX
from service.runtime import get_runtime

blp = Blueprint("kserve", __name__, description="KServe V2 / Open Inference Protocol (/v2)")

register_protocol_errors("/v2", error_response)


class KServeServerMetadataSchema(Schema):
    name = fields.String()
    version = fields.String()
    extensions = fields.List(fields.String())


class KServeLiveSchema(Schema):
    live = fields.Boolean()


class KServeReadySchema(Schema):
    ready = fields.Boolean()


class KServeModelReadySchema(Schema):
    name = fields.String()
    ready = fields.Boolean()


class KServeTensorMetadataSchema(Schema):
    name = fields.String()
    datatype = fields.String()
    shape = fields.List(fields.Integer(), metadata={"description": "-1: any batch size."})


class KServeModelMetadataSchema(Schema):
    name = fields.String()
    versions = fields.List(fields.String())
    platform = fields.String()
    inputs = fields.List(fields.Nested(KServeTensorMetadataSchema))
    outputs = fields.List(fields.Nested(KServeTensorMetadataSchema))


# The inference request, as the handler reads it. What JSON Schema cannot say is left to the
# handler's 400: the feature count and, for per-feature inputs, the feature names (they
# depend on the model); data that matches its shape and datatype (count, range, integers);
# binary data sizes that match the tensors; each output asked for once.
_NUMBER = {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}
_INPUT = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string", "example": "features"},
        "shape": {"type": "array", "minItems": 1, "maxItems": 2, "example": [1, 4],
                  "items": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
        "datatype": {"type": "string", "enum": list(NUMERIC), "example": "FP32"},
        "parameters": {"type": "object", "nullable": True, "properties": {
            "binary_data_size": {"type": "integer", "minimum": 0, "nullable": True,
                                 "description": (
                "The tensor's bytes follow the JSON header (binary tensor data).")}}},
        "data": {"type": "array", "items": {"oneOf": [_NUMBER, {"type": "array",
                                                                "items": _NUMBER}]},
                 "description": "Row-major values, flat or nested as the shape."},
    },
    "oneOf": [{"required": ["data"]},
              {"required": ["parameters"], "properties": {"parameters": {
                  "type": "object", "required": ["binary_data_size"],
                  "properties": {"binary_data_size": {"type": "integer"}}}}}],
}
_OUTPUT = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "enum": list(kserve.OUTPUTS), "example": "probabilities"},
        "parameters": {"type": "object", "nullable": True, "properties": {
            "binary_data": {"type": "boolean"},
            "classification": {"type": "integer", "minimum": 1, "description": (
                "Top k classes as 'score:index:label' (of 'probabilities' only).")}}},
    },
}
KSERVE_INFER_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string", "nullable": True},
        "parameters": {"type": "object", "nullable": True, "properties": {
            "binary_data_output": {"type": "boolean"}}},
        "inputs": {"type": "array", "minItems": 1, "items": _INPUT, "description": (
            "One input 'features' [N, n_features], or (a model trained with feature names) "
            "one [N] input per feature."), "example": [
                {"name": "features", "shape": [1, 4], "datatype": "FP32",
                 "data": [5.1, 3.5, 1.4, 0.2]}]},
        "outputs": {"type": "array", "nullable": True, "items": _OUTPUT},
    },
}


class KServeResponseOutputSchema(Schema):
    name = fields.String()
    datatype = fields.String()
    shape = fields.List(fields.Integer())
    parameters = fields.Dict()
    data = fields.Raw(metadata={"type": "array", "items": {}})


class KServeInferResponseSchema(Schema):
    model_name = fields.String()
    model_version = fields.String()
    id = fields.String()
    outputs = fields.List(fields.Nested(KServeResponseOutputSchema))


@blp.route("/v2", methods=["GET"])
@blp.response(200, KServeServerMetadataSchema)
def server_metadata() -> Response:
    """Server metadata: name, version and the extensions supported."""
    return json_response(kserve.server_metadata(current_app.config["API_VERSION"]))


@blp.route("/v2/health/live", methods=["GET"])
@blp.response(200, KServeLiveSchema)
def server_live() -> Response:
    """The server is alive and answering."""
    return json_response({"live": True})


@blp.route("/v2/health/ready", methods=["GET"])
@blp.response(200, KServeReadySchema)
@blp.alt_response(503, schema=KServeReadySchema)
def server_ready() -> Response:
    """Ready for inference: the model store can be read."""
    try:
        get_runtime().store.list_models()
    except OSError:
        return json_response({"ready": False}, 503)
    return json_response({"ready": True})


_MODEL = "/v2/models/<name>"
_VERSION = "/v2/models/<name>/versions/<version>"


@blp.route(_MODEL, methods=["GET"], endpoint="model_metadata")
@blp.route(_VERSION, methods=["GET"], endpoint="version_metadata")
@blp.response(200, KServeModelMetadataSchema)
@errors(blp, 404)
def model_metadata(name: str, version: str | None = None) -> Response:
    """Model metadata: versions, input and output tensors (version: a number or an alias)."""
    return json_response(kserve.model_metadata(get_runtime().store, name, version))


@blp.route(f"{_MODEL}/ready", methods=["GET"], endpoint="model_ready")
@blp.route(f"{_VERSION}/ready", methods=["GET"], endpoint="version_ready")
@blp.response(200, KServeModelReadySchema)
@blp.alt_response(503, schema=KServeModelReadySchema)
@errors(blp, 404)
def model_ready(name: str, version: str | None = None) -> Response:
    """Whether the version loads and can serve (503 when its artifact cannot be loaded)."""
    body = kserve.model_ready(get_runtime().cache, name, version)
    return json_response(body, 200 if body["ready"] else 503)


@blp.route(f"{_MODEL}/infer", methods=["POST"], endpoint="model_infer")
@blp.route(f"{_VERSION}/infer", methods=["POST"], endpoint="version_infer")
@body_doc(KSERVE_INFER_REQUEST, "application/json", "application/octet-stream",
          description=f"JSON, or with {HEADER_LENGTH} the JSON header followed by binary "
          "tensor data.")
@blp.response(200, KServeInferResponseSchema, description=(
    "JSON, or application/octet-stream when an output is asked for as binary data: "
    f"{HEADER_LENGTH} bytes of JSON, then the outputs' bytes."))
@errors(blp, 400, 404, 413, 415)
def infer(name: str, version: str | None = None) -> Response:
    """Class probabilities (FP32 [N, n_classes]) and labels (BYTES [N]) for a batch of rows.

    A body may be compressed (``Content-Encoding: gzip`` or ``deflate``, as Triton's clients
    offer); the size limit holds for the decompressed body too.
    """
    header, binary = split_body(request_body(), request.headers.get(HEADER_LENGTH))
    doc = parse_json(header)
    if not isinstance(doc, dict):
        raise BadRequest("the inference request must be a JSON object")
    runtime = get_runtime()
    body, tail = kserve.infer(runtime.cache, runtime.settings, name, version, doc, binary)
    if tail is None:
        return json_response(body)
    head = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(head + tail, mimetype="application/octet-stream",
                    headers={HEADER_LENGTH: str(len(head))})
