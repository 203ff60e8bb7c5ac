"""``POST /train`` and ``/jobs``: submit, follow and cancel training (HTTP translation only)."""

from __future__ import annotations

import hashlib
import re

import numpy as np
from flask import request
from flask_smorest import Blueprint

from service.api.body import load, parse_csv, parse_json, raw_body
from service.api.docs import body_doc, problems
from service.api.schemas import (
    JobListQuerySchema,
    JobListSchema,
    JobSchema,
    TrainQuerySchema,
    TrainRequestSchema,
)
from service.arrays import as_matrix, check_matrix
from service.errors import BadRequest, UnsupportedMediaType, field_error
from service.runtime import get_runtime

blp = Blueprint("jobs", __name__, description="Training jobs")
_train_request = TrainRequestSchema()
_train_query = TrainQuerySchema()
_INT_LABEL = re.compile(r"^-?\d{1,18}$")


@blp.route("/train", methods=["POST"])
@body_doc(TrainRequestSchema, "application/json",
          description="JSON, or a CSV with a header row (Content-Type: text/csv; "
                      "?model=NAME&label_column=COLUMN).")
@blp.response(202, JobSchema, headers={"Location": {"schema": {"type": "string"}}})
@blp.alt_response(200, schema=JobSchema, description="Replay of an Idempotency-Key",
                  success=True)
@problems(blp, 400, 404, 413, 415, 422, 429)
def post_train() -> tuple[dict, int, dict]:
    """Queue a training job; a new model version appears when it succeeds."""
    runtime = get_runtime()
    limits = {"max_rows": runtime.settings.max_rows,
              "max_features": runtime.settings.max_features}
    mimetype = request.mimetype or "application/json"
    if mimetype in ("text/csv", "application/csv"):
        args = load(_train_query, request.args.to_dict())
        body = raw_body()
        names, cells, labels = parse_csv(body, args["label_column"])
        X = check_matrix(_csv_numbers(cells, names), "data.features", **limits)
        y = _labels([int(v) for v in labels] if all(map(_INT_LABEL.match, labels)) else labels)
        model, params, feature_names = args["model"], {}, names
        fingerprint = hashlib.sha256(request.query_string + b"\0" + body).hexdigest()
    elif mimetype == "application/json" or mimetype.endswith("+json"):
        body = raw_body()
        doc = parse_json(body)
        if not isinstance(doc, dict):
            raise BadRequest("request body must be a JSON object")
        req = load(_train_request, doc)
        X = as_matrix(req["data"]["features"], "data.features", **limits)
        y = _labels(req["data"]["labels"])
        model, params, feature_names = req["model"], req["params"], req["data"]["feature_names"]
        fingerprint = hashlib.sha256(body).hexdigest()
    else:
        raise UnsupportedMediaType(f"Content-Type {mimetype!r} is not accepted; "
                                   "send application/json or text/csv")
    if len(y) != len(X):
        raise field_error("data.labels", f"has {len(y)} labels for {len(X)} rows of features")
    if feature_names is not None and len(feature_names) != X.shape[1]:
        raise field_error("data.feature_names",
                          f"names {len(feature_names)} columns; rows have {X.shape[1]}")
    job, created = runtime.jobs.submit(
        model, X, y, params, feature_names=feature_names,
        idempotency_key=request.headers.get("Idempotency-Key"), body_sha256=fingerprint)
    return job, 202 if created else 200, {"Location": f"/jobs/{job['job_id']}"}


@blp.route("/jobs", methods=["GET"])
@blp.arguments(JobListQuerySchema, location="query")
@blp.response(200, JobListSchema)
@problems(blp, 422)
def list_jobs(query: dict) -> dict:
    """Job summaries (without history), newest first, optionally filtered by model and
    status; ``GET /jobs/<id>`` has the full record."""
    jobs, total = get_runtime().jobs.list(
        model=query.get("model"), status=query.get("status"),
        limit=query["limit"], offset=query["offset"])
    return {"jobs": jobs, "total": total, "limit": query["limit"], "offset": query["offset"]}


@blp.route("/jobs/<job_id>", methods=["GET"])
@blp.response(200, JobSchema)
@problems(blp, 404)
def get_job(job_id: str) -> dict:
    """One job: status, progress per epoch, the version it made or why it failed."""
    return get_runtime().jobs.get(job_id)


@blp.route("/jobs/<job_id>", methods=["DELETE"])
@blp.response(200, JobSchema, description="Cancelled (it was queued)")
@blp.alt_response(202, schema=JobSchema, success=True,
                  description="Cancel requested; the running job stops within one epoch")
@problems(blp, 404, 409)
def cancel_job(job_id: str) -> tuple[dict, int]:
    """Cancel a queued or running job."""
    job, done = get_runtime().jobs.cancel(job_id)
    return job, 200 if done else 202


def _labels(labels: object) -> np.ndarray:
    """Class labels as an int or str array, one per row."""
    if not isinstance(labels, list) or not labels:
        raise field_error("data.labels", "must be a non-empty list of class labels")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        return np.asarray(labels, dtype=np.int64)
    if all(isinstance(v, str) and v for v in labels):
        return np.asarray(labels, dtype=str)
    raise field_error("data.labels", "must be all integers or all non-empty strings")


def _csv_numbers(cells: list[list[str]], names: list[str]) -> np.ndarray:
    try:
        return np.asarray(cells, dtype=np.float64)
    except ValueError:
        for row, values in enumerate(cells):
            for col, cell in enumerate(values):
                try:
                    float(cell)
                except ValueError:
                    raise field_error(f"data.features[{row}][{col}]",
                                      f"column {names[col]!r} holds {cell!r:.40}, "
                                      "not a number") from None
        raise
