"""``POST /predict``: our own prediction endpoint (HTTP translation only)."""

from __future__ import annotations

import orjson
from flask import Response
from flask_smorest import Blueprint

from service.api.body import json_object, load
from service.api.docs import body_doc, doc_only, problems
from service.api.schemas import PredictRequestSchema, PredictResponseSchema
from service.handlers.predict import predict, read_rows
from service.runtime import get_runtime

blp = Blueprint("predict", __name__, description="Class probabilities from a model version")
_predict_request = PredictRequestSchema()


@blp.route("/predict", methods=["POST"])
@body_doc(PredictRequestSchema)
@doc_only(blp.response(200, PredictResponseSchema))
@problems(blp, 400, 404, 413, 415, 422)
def post_predict() -> Response:
    """Predict class probabilities for rows of features.

    Rows come back in request order; each probability row sums to 1 and its columns follow
    ``classes``. ``version`` is a number, ``latest`` or an alias (default: the newest).
    """
    req = load(_predict_request, json_object())
    runtime = get_runtime()
    matrix = read_rows(req["instances"], runtime.settings, "instances")  # before the store
    result = predict(runtime.cache.get(req["model"], req["version"]), matrix, "instances")
    body = {"model": result.model, "version": result.version, "classes": result.classes,
            "probabilities": result.probabilities, "labels": result.labels}
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                    content_type="application/json")
