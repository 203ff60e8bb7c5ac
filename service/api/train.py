"""``POST /train`` and ``/jobs``: submit, follow and cancel training (HTTP translation only)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import request
from flask_smorest import Blueprint

from service.api.body import CSV_TYPES, is_json, load, parse_csv, parse_json, request_body
from service.api.docs import body_doc, problems
from service.api.job_schemas import JobListQuerySchema, JobListSchema, JobSchema
from service.api.schemas import TrainQuerySchema, TrainRequestSchema
from service.auth import current_key_id, require_scopes
from service.errors import BadRequest, UnsupportedMediaType
from service.runtime import get_runtime

blp = Blueprint("jobs", __name__, description="Training jobs")
_train_request = TrainRequestSchema()
_train_query = TrainQuerySchema()
_INT_LABEL = re.compile(r"^-?\d{1,18}$")


@blp.route("/train", methods=["POST"])
@body_doc(TrainRequestSchema, "application/json",
          description="JSON, or a CSV with a header row (Content-Type: text/csv; "
                      "?model=NAME&label_column=COLUMN&description=TEXT).")
@blp.response(202, JobSchema, headers={"Location": {"schema": {"type": "string"}}})
@blp.alt_response(200, schema=JobSchema, description="Replay of an Idempotency-Key",
                  success=True)
@problems(blp, 400, 404, 413, 415, 422, 429)
def post_train() -> tuple[dict[str, object], int, dict[str, object]]:
    """Queue a training job; a new model version appears when it succeeds."""
    runtime = get_runtime()
    mimetype = request.mimetype or "application/json"
    label_column, promote = None, None
    search: dict[str, Any] = {}
    if mimetype in CSV_TYPES:
        args = load(_train_query, request.args.to_dict())
        body = request_body()
        X, labels = parse_csv(body, args["label_column"])
        y: object = [int(v) for v in labels] if all(map(_INT_LABEL.match, labels)) else labels
        model, params, feature_names = args["model"], {}, X.names
        description = args["description"]
        fingerprint = hashlib.sha256(request.query_string + b"\0" + body).hexdigest()
    elif is_json(mimetype):
        body = request_body()
        doc = parse_json(body)
        if not isinstance(doc, dict):
            raise BadRequest("request body must be a JSON object")
        req = load(_train_request, doc)
        data = req["data"]
        X = data["records"] if data.get("records") is not None else data["features"]
        y, label_column = data["labels"], data["label_column"]
        model, params, feature_names = req["model"], req["params"], data["feature_names"]
        description, promote = req["description"], req.get("promote")
        if promote is not None:  # it moves an alias: the registry's scope too
            require_scopes("train", "admin")
        search = {k: req[k] for k in ("search", "strategy", "budget")}
        fingerprint = hashlib.sha256(body).hexdigest()
    else:
        raise UnsupportedMediaType(f"Content-Type {mimetype!r} is not accepted; "
                                   "send application/json or text/csv")
    job, created = runtime.jobs.submit(
        model, X, y, params, feature_names=feature_names, label_column=label_column,
        description=description, promote=promote, key_id=current_key_id(),
        idempotency_key=request.headers.get("Idempotency-Key"), body_sha256=fingerprint,
        **search)
    return job, 202 if created else 200, {"Location": f"/jobs/{job['job_id']}"}


@blp.route("/jobs", methods=["GET"])
@blp.arguments(JobListQuerySchema, location="query")
@blp.response(200, JobListSchema)
@problems(blp, 422)
def list_jobs(query: dict[str, Any]) -> dict[str, object]:
    """Job summaries (without history), newest first, optionally filtered by model and
    status; ``GET /jobs/<id>`` has the full record."""
    jobs, total = get_runtime().jobs.list(
        model=query.get("model"), status=query.get("status"),
        limit=query["limit"], offset=query["offset"])
    return {"jobs": jobs, "total": total, "limit": query["limit"], "offset": query["offset"]}


@blp.route("/jobs/<job_id>", methods=["GET"])
@blp.response(200, JobSchema)
@problems(blp, 404)
def get_job(job_id: str) -> dict[str, object]:
    """One job: status, progress per epoch, the version it made or why it failed."""
    return get_runtime().jobs.get(job_id)


@blp.route("/jobs/<job_id>", methods=["DELETE"])
@blp.response(200, JobSchema, description="Cancelled (it was queued)")
@blp.alt_response(202, schema=JobSchema, success=True,
                  description="Cancel requested; the running job stops within one epoch")
@problems(blp, 404, 409)
def cancel_job(job_id: str) -> tuple[dict[str, object], int]:
    """Cancel a queued or running job."""
    job, done = get_runtime().jobs.cancel(job_id)
    return job, 200 if done else 202

