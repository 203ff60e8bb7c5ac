"""``POST /predict``: our own prediction endpoint (HTTP translation only)."""

from __future__ import annotations

import orjson
from flask import Response, request
from flask_smorest import Blueprint

from service.api.body import CSV_TYPES, json_object, load, read_csv, request_body
from service.api.docs import body_doc, doc_only, problems
from service.api.schemas import PredictQuerySchema, PredictRequestSchema, PredictResponseSchema
from service.handlers.predict import predict_csv, predict_instances
from service.runtime import get_runtime

blp = Blueprint("predict", __name__, description="Class probabilities from a model version")
_predict_request = PredictRequestSchema()
_predict_query = PredictQuerySchema()


@blp.route("/predict", methods=["POST"])
@body_doc(PredictRequestSchema, "application/json",
          description="JSON, or a CSV with a header row naming the model's features "
                      "(Content-Type: text/csv; ?model=NAME&version=V).")
@doc_only(blp.response(200, PredictResponseSchema))
@problems(blp, 400, 404, 413, 415, 422)
def post_predict() -> Response:
    """Predict class probabilities for rows of features.

    ``instances`` are rows (arrays in the model's feature order) or, for a model trained on
    tabular data, records (objects keyed by feature name). Rows come back in request order;
    each probability row sums to 1 and its columns follow ``classes``. ``version`` is a
    number, ``latest`` or an alias (default: the newest).
    """
    runtime = get_runtime()
    if request.mimetype in CSV_TYPES:
        query = load(_predict_query, request.args.to_dict())
        table = read_csv(request_body())
        loaded = runtime.cache.get(query["model"], query["version"])
        result = predict_csv(loaded, table, runtime.settings)
    else:
        req = load(_predict_request, json_object())
        result = predict_instances(runtime.cache, req["model"], req["version"],
                                   req["instances"], runtime.settings, "instances")
    body = {"model": result.model, "version": result.version, "classes": result.classes,
            "probabilities": result.probabilities, "labels": result.labels}
    if result.warnings:
        body["warnings"] = result.warnings
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                    content_type="application/json")
