"""marshmallow schemas of our REST API: request structure and the documented response shapes.

Large numeric arrays are ``Raw`` here and checked with NumPy (``service.arrays``): element-wise
fields cost ~40x more on 100k floats.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ParamsSchema(Schema):
    hidden_layers = fields.List(fields.Integer(strict=True, validate=validate.Range(1, 4096)),
                                validate=validate.Length(0, 8))
    activation = fields.String(validate=validate.OneOf(["relu", "sigmoid", "tanh"]))
    optimizer = fields.String(validate=validate.OneOf(["sgd", "momentum", "adam"]))
    learning_rate = fields.Float(validate=validate.Range(0, 10, min_inclusive=False))
    epochs = fields.Integer(strict=True, validate=validate.Range(1, 10_000))
    batch_size = fields.Integer(strict=True, validate=validate.Range(1, 65_536))
    l2 = fields.Float(validate=validate.Range(0, 10))
    validation_split = fields.Float(validate=validate.Range(0, 0.5, max_inclusive=False))
    early_stopping = fields.Boolean()
    patience = fields.Integer(strict=True, validate=validate.Range(1, 10_000))
    seed = fields.Integer(strict=True, validate=validate.Range(0, 2**32 - 1))
    momentum = fields.Float(validate=validate.Range(0, 1, max_inclusive=False))
    nesterov = fields.Boolean()


class DatasetSchema(Schema):
    features = fields.Raw(required=True, metadata={
        "description": "Rows of numbers, shape (n_rows, n_features).",
        "type": "array", "items": {"type": "array", "items": {"type": "number"}}})
    labels = fields.Raw(required=True, metadata={
        "description": "One class label (integer or string) per row.",
        "type": "array", "items": {"oneOf": [{"type": "integer"}, {"type": "string"}]}})
    feature_names = fields.List(fields.String(), load_default=None)


class TrainRequestSchema(Schema):
    model = fields.String(required=True, validate=validate.Regexp(NAME_PATTERN))
    data = fields.Nested(DatasetSchema, required=True)
    params = fields.Nested(ParamsSchema, load_default=dict)


class TrainQuerySchema(Schema):
    model = fields.String(required=True, validate=validate.Regexp(NAME_PATTERN))
    label_column = fields.String(load_default=None)


class ProgressSchema(Schema):
    epoch = fields.Integer(allow_none=True)
    epochs = fields.Integer(allow_none=True)
    loss = fields.Float(allow_none=True)
    accuracy = fields.Float(allow_none=True)
    val_accuracy = fields.Float(allow_none=True)


class JobErrorSchema(Schema):
    type = fields.String()
    message = fields.String()


class JobSchema(Schema):
    job_id = fields.String(required=True)
    model = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(
        ["queued", "running", "succeeded", "failed", "cancelled"]))
    progress = fields.Nested(ProgressSchema, allow_none=True)
    history = fields.List(fields.Dict(), allow_none=True)
    model_version = fields.Integer(allow_none=True)
    error = fields.Nested(JobErrorSchema, allow_none=True)
    params = fields.Dict(allow_none=True)
    dataset = fields.Dict(allow_none=True)
    cancel_requested = fields.Boolean()
    attempts = fields.Integer()
    worker = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)
    heartbeat_at = fields.String(allow_none=True)


class JobListQuerySchema(Schema):
    model = fields.String()
    status = fields.String(validate=validate.OneOf(
        ["queued", "running", "succeeded", "failed", "cancelled"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10**9))


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSchema))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class PredictRequestSchema(Schema):
    model = fields.String(required=True)
    version = fields.Raw(load_default=None, metadata={
        "description": "A version number, 'latest' or an alias; default the newest.",
        "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string"}]})
    instances = fields.Raw(required=True, metadata={
        "description": "Rows of numbers, shape (n_rows, n_features).",
        "type": "array", "items": {"type": "array", "items": {"type": "number"}}})


class PredictResponseSchema(Schema):
    model = fields.String()
    version = fields.Integer()
    classes = fields.List(fields.Raw())
    probabilities = fields.List(fields.List(fields.Float()))
    labels = fields.List(fields.Raw())


class ModelSummarySchema(Schema):
    name = fields.String()
    versions = fields.List(fields.Integer())
    aliases = fields.Dict(keys=fields.String(), values=fields.Integer())
    latest = fields.Integer(allow_none=True)


class ModelListSchema(Schema):
    models = fields.List(fields.Nested(ModelSummarySchema))


class VersionMetaSchema(Schema):
    model = fields.String()
    version = fields.Integer()
    created_at = fields.String()
    artifact_sha256 = fields.String()
    artifact_bytes = fields.Integer()
    n_features = fields.Integer()
    classes = fields.List(fields.Raw())
    feature_names = fields.List(fields.String(), allow_none=True)
    params = fields.Dict()
    metrics = fields.Dict()
    history = fields.List(fields.Dict())
    dataset = fields.Dict()
    job_id = fields.String(allow_none=True)
    training_seconds = fields.Float(allow_none=True)


class AliasRequestSchema(Schema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class AliasSchema(Schema):
    model = fields.String()
    alias = fields.String()
    version = fields.Integer()


class HealthSchema(Schema):
    status = fields.String()
    checks = fields.Dict()


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
