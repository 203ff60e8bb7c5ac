"""The job records of ``POST /train`` and ``/jobs``: a job, its progress and its error, and the
list of jobs."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.schemas import NAME
from service.jobs.records import STATUSES


class ProgressSchema(Schema):
    epoch = fields.Integer(allow_none=True)
    epochs = fields.Integer(allow_none=True)
    loss = fields.Float(allow_none=True)
    accuracy = fields.Float(allow_none=True)
    val_accuracy = fields.Float(allow_none=True)
    trials_total = fields.Integer(metadata={"description": "A search: its trials."})
    trials_started = fields.Integer()
    trials_done = fields.Integer(metadata={"description": "A search: runs ended (a trial "
                                                          "promoted by halving runs again)."})
    trials_running = fields.Integer()
    trials_queued = fields.Integer()
    best = fields.Dict(allow_none=True, metadata={
        "description": "A search: the best trial so far (params, epochs, val_loss, "
                       "val_accuracy)."})


class JobErrorSchema(Schema):
    type = fields.String()
    message = fields.String()


class JobSummarySchema(Schema):
    """A job as ``GET /jobs`` lists it: the record without its per-epoch history."""

    job_id = fields.String(required=True)
    model = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    progress = fields.Nested(ProgressSchema, allow_none=True)
    model_version = fields.Integer(allow_none=True)
    error = fields.Nested(JobErrorSchema, allow_none=True)
    params = fields.Dict(allow_none=True)
    dataset = fields.Dict(allow_none=True)
    description = fields.String(allow_none=True)
    cancel_requested = fields.Boolean()
    attempts = fields.Integer()
    worker = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)
    heartbeat_at = fields.String(allow_none=True)
    promote = fields.Dict(allow_none=True, metadata={"description": "The gate asked for."})
    promotion = fields.Dict(allow_none=True, metadata={
        "description": "Once published: what was compared, both scores, the interval, "
                       "whether the alias moved and why not."})
    kind = fields.String(metadata={"description": '"search" for a hyper-parameter search.'})
    search = fields.Dict(metadata={"description": "A search: strategy, space, budget, seed, "
                                                  "rungs and one entry per trial run."})
    children = fields.List(fields.String(), metadata={"description": "A search: its trials' "
                                                                     "job ids."})
    parent = fields.String(metadata={"description": "A trial: its search's job id."})
    trial = fields.Dict(metadata={"description": "A trial: its number and rung."})
    metrics = fields.Dict(metadata={"description": "A trial that succeeded: its best epoch."})


class JobSchema(JobSummarySchema):
    """The full job record: its summary and the history, one entry per epoch."""

    history = fields.List(fields.Dict(), allow_none=True)


class JobListQuerySchema(Schema):
    model = fields.String(validate=NAME)
    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10**9))


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSummarySchema))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()
