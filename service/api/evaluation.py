"""``/models/<name>/versions/<v>/evaluate`` and ``/card``: a version's metrics on labelled rows
and its model card (HTTP translation only; both need the predict scope)."""

from __future__ import annotations

import orjson
from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from service.api.body import CSV_TYPES, json_object, load, parse_csv, request_body
from service.api.docs import body_doc, doc_only, path_params, problems
from service.api.evaluation_schemas import EvaluateResponseSchema
from service.api.schemas import DatasetSchema
from service.handlers.card import model_card
from service.handlers.evaluate import evaluate_csv, evaluate_data
from service.names import VERSION_REF_PATTERN
from service.runtime import get_runtime

blp = Blueprint("evaluation", __name__, description="Evaluation of model versions and their "
                                                    "model cards")
_VERSION_REF = {"in": "path", "name": "version", "required": True,
                "description": "A version number, 'latest' or an alias.",
                "schema": {"type": "string", "pattern": VERSION_REF_PATTERN}, "example": "1"}
_PARAMS = [*path_params("name"), _VERSION_REF]


class EvaluateRequestSchema(Schema):
    data = fields.Nested(DatasetSchema, required=True, metadata={
        "description": "Labelled rows, as the data of POST /train."})


class EvaluateQuerySchema(Schema):
    label_column = fields.String(load_default=None, metadata={
        "description": "CSV bodies: the label column (default: 'label', else the last)."})


_request = EvaluateRequestSchema()
_query = EvaluateQuerySchema()


@blp.route("/models/<name>/versions/<version>/evaluate", methods=["POST"], parameters=_PARAMS)
@body_doc(EvaluateRequestSchema, "application/json",
          description="JSON, or a CSV with a header row and a label column (Content-Type: "
                      "text/csv; ?label_column=COLUMN).")
@doc_only(blp.response(200, EvaluateResponseSchema))
@problems(blp, 400, 404, 413, 415, 422)
def post_evaluate(name: str, version: str) -> Response:
    """Metrics of a version on a labelled data set: accuracy, log loss, per-class scores, the
    confusion matrix, ROC AUC and calibration. Nothing is written; compare versions on the same
    rows with it."""
    runtime = get_runtime()
    if request.mimetype in CSV_TYPES:
        label_column = load(_query, request.args.to_dict())["label_column"]
        header, rows, labels = parse_csv(request_body(), label_column)
        result = evaluate_csv(runtime.cache, name, version, header, rows, labels,
                              label_column, runtime.settings)
    else:
        req = load(_request, json_object())
        result = evaluate_data(runtime.cache, name, version, req["data"], runtime.settings)
    return Response(orjson.dumps(result), content_type="application/json")


@blp.route("/models/<name>/versions/<version>/card", methods=["GET"], parameters=_PARAMS)
@doc_only(blp.doc(responses={"200": {"description": "The model card (Markdown)", "content": {
    "text/markdown": {"schema": {"type": "string"}}}}}))
@problems(blp, 404, 422)
def get_card(name: str, version: str) -> Response:
    """The version's model card in Markdown: details, intended use, training data, evaluation
    and caveats, from what training recorded."""
    card = model_card(get_runtime().store, name, version)
    return Response(card, content_type="text/markdown; charset=utf-8")
