"""KServe V2 / Open Inference Protocol under ``/v2`` (HTTP translation only).

Health, server and model metadata, model readiness and ``/infer``, with the binary tensor data
extension both ways. Bodies are parsed whatever their Content-Type (clients often send none or
``application/octet-stream``); errors are ``{"error": "..."}``. The semantics live in
``service.handlers.kserve``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

import orjson
from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from service.api.body import parse_json, request_body
from service.api.docs import View, body_doc
from service.api.problems import register_protocol_errors
from service.api.tfserving import error_response
from service.errors import BadRequest
from service.handlers import kserve
from service.handlers.tensors import HEADER_LENGTH, split_body
from service.runtime import get_runtime

blp = Blueprint("kserve", __name__, description="KServe V2 / Open Inference Protocol (/v2)")

register_protocol_errors("/v2", error_response)


class KServeErrorSchema(Schema):
    error = fields.String(metadata={"description": "What went wrong."})


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


class KServeRequestInputSchema(Schema):
    name = fields.String(required=True, metadata={"example": "features"})
    shape = fields.List(fields.Integer(), required=True, metadata={"example": [1, 4]})
    datatype = fields.String(required=True, metadata={"example": "FP32"})
    parameters = fields.Dict(metadata={"description": "binary_data_size: the tensor's bytes "
                                       "follow the JSON header (binary tensor data)."})
    data = fields.Raw(metadata={"type": "array", "items": {},
                                "description": "Row-major values, flat or nested."})


class KServeRequestOutputSchema(Schema):
    name = fields.String(required=True, metadata={"example": "probabilities"})
    parameters = fields.Dict(metadata={"description": "binary_data (bool), classification "
                                       "(top k as 'score:index:label')."})


class KServeInferRequestSchema(Schema):
    id = fields.String()
    parameters = fields.Dict(metadata={"description": "binary_data_output (bool)."})
    inputs = fields.List(fields.Nested(KServeRequestInputSchema), required=True)
    outputs = fields.List(fields.Nested(KServeRequestOutputSchema))


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


def errors(*codes: int) -> Callable[[View], View]:
    """Document ``{"error": ...}`` responses."""
    decorators = [blp.alt_response(code, schema=KServeErrorSchema,
                                   content_type="application/json", success=False)
                  for code in codes]
    return lambda func: reduce(lambda f, d: d(f), decorators, func)


def _json(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status=status,
                    mimetype="application/json")


@blp.route("/v2", methods=["GET"])
@blp.response(200, KServeServerMetadataSchema)
def server_metadata() -> Response:
    """Server metadata: name, version and the extensions supported."""
    return _json(kserve.server_metadata(current_app.config["API_VERSION"]))


@blp.route("/v2/health/live", methods=["GET"])
@blp.response(200, KServeLiveSchema)
def server_live() -> Response:
    """The server is alive and answering."""
    return _json({"live": True})


@blp.route("/v2/health/ready", methods=["GET"])
@blp.response(200, KServeReadySchema)
@blp.alt_response(503, schema=KServeReadySchema)
def server_ready() -> Response:
    """Ready for inference: the model store can be read."""
    try:
        get_runtime().store.list_models()
    except OSError:
        return _json({"ready": False}, 503)
    return _json({"ready": True})


_MODEL = "/v2/models/<name>"
_VERSION = "/v2/models/<name>/versions/<version>"


@blp.route(_MODEL, methods=["GET"], endpoint="model_metadata")
@blp.route(_VERSION, methods=["GET"], endpoint="version_metadata")
@blp.response(200, KServeModelMetadataSchema)
@errors(404)
def model_metadata(name: str, version: str | None = None) -> Response:
    """Model metadata: versions, input and output tensors (version: a number or an alias)."""
    return _json(kserve.model_metadata(get_runtime().store, name, version))


@blp.route(f"{_MODEL}/ready", methods=["GET"], endpoint="model_ready")
@blp.route(f"{_VERSION}/ready", methods=["GET"], endpoint="version_ready")
@blp.response(200, KServeModelReadySchema)
@blp.alt_response(503, schema=KServeModelReadySchema)
@errors(404)
def model_ready(name: str, version: str | None = None) -> Response:
    """Whether the version loads and can serve (503 when its artifact cannot be loaded)."""
    body = kserve.model_ready(get_runtime().cache, name, version)
    return _json(body, 200 if body["ready"] else 503)


@blp.route(f"{_MODEL}/infer", methods=["POST"], endpoint="model_infer")
@blp.route(f"{_VERSION}/infer", methods=["POST"], endpoint="version_infer")
@body_doc(KServeInferRequestSchema, "application/json", "application/octet-stream",
          description=f"JSON, or with {HEADER_LENGTH} the JSON header followed by binary "
          "tensor data.")
@blp.response(200, KServeInferResponseSchema, description=(
    "JSON, or application/octet-stream when an output is asked for as binary data: "
    f"{HEADER_LENGTH} bytes of JSON, then the outputs' bytes."))
@errors(400, 404, 413, 415)
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
        return _json(body)
    head = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(head + tail, mimetype="application/octet-stream",
                    headers={HEADER_LENGTH: str(len(head))})
