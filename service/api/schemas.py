"""marshmallow schemas of our REST API: request structure and the documented response shapes.

Large numeric arrays are ``Raw`` here and checked with NumPy (``service.arrays``): element-wise
fields cost ~40x more on 100k floats.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.names import NAME_RULE

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# The documented forms of what ``service.names`` accepts: 1 to 10**18-1 in at most 18 digits; an
# alias is a name that is not all digits nor "latest"; a version reference is any of those.
VERSION_NUMBER_PATTERN = r"^(?=[0-9]{1,18}$)0*[1-9][0-9]*$"
ALIAS_PATTERN = r"^(?!latest$)(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
VERSION_REF_PATTERN = (r"^(?:latest|(?=[0-9]{1,18}$)0*[1-9][0-9]*"
                       r"|(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9._-]{0,63})$")
MAX_VERSION = 10**18 - 1
_NAME = validate.Regexp(NAME_PATTERN, error=f"must be {NAME_RULE}")
# Rows of numbers: JSON Schema cannot say "all rows equally long" nor "as many labels as rows"
# nor "finite in float32"; the handlers answer 422 for those.
FLOAT32_MAX = 3.4028234663852886e38
ROWS = {"type": "array", "minItems": 1, "items": {
    "type": "array", "minItems": 1,
    "items": {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}}}


class ParamsSchema(Schema):
    hidden_layers = fields.List(fields.Integer(strict=True, validate=validate.Range(1, 4096)),
                                validate=validate.Length(0, 8))
    activation = fields.String(validate=validate.OneOf(["relu", "sigmoid", "tanh"]))
    optimizer = fields.String(validate=validate.OneOf(["sgd", "momentum", "adam"]))
    learning_rate = fields.Float(validate=validate.Range(0, 10, min_inclusive=False),
                                 metadata={"exclusiveMinimum": True})
    epochs = fields.Integer(strict=True, validate=validate.Range(1, 10_000))
    batch_size = fields.Integer(strict=True, validate=validate.Range(1, 65_536))
    l2 = fields.Float(validate=validate.Range(0, 10))
    validation_split = fields.Float(validate=validate.Range(0, 0.5, max_inclusive=False),
                                    metadata={"exclusiveMaximum": True})
    early_stopping = fields.Boolean()
    patience = fields.Integer(strict=True, validate=validate.Range(1, 10_000))
    seed = fields.Integer(strict=True, validate=validate.Range(0, 2**32 - 1))
    momentum = fields.Float(validate=validate.Range(0, 1, max_inclusive=False),
                            metadata={"exclusiveMaximum": True})
    nesterov = fields.Boolean()


class DatasetSchema(Schema):
    features = fields.Raw(required=True, metadata={
        "description": "Rows of numbers, shape (n_rows, n_features).", **ROWS,
        "example": [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5]]})
    labels = fields.Raw(required=True, metadata={
        "description": "One class label per row: all integers or all non-empty strings.",
        "type": "array", "minItems": 1,
        "items": {"oneOf": [{"type": "integer"}, {"type": "string", "minLength": 1}]},
        "example": ["setosa", "versicolor", "virginica"]})
    feature_names = fields.List(fields.String(), load_default=None, metadata={
        "description": "One name per feature column (optional).",
        "example": ["sepal_length", "sepal_width", "petal_length", "petal_width"]})


class TrainRequestSchema(Schema):
    model = fields.String(required=True, validate=_NAME,
                          metadata={"example": "iris"})
    data = fields.Nested(DatasetSchema, required=True)
    params = fields.Nested(ParamsSchema, load_default=dict)


class TrainQuerySchema(Schema):
    model = fields.String(required=True, validate=_NAME)
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


class JobSummarySchema(Schema):
    """A job as ``GET /jobs`` lists it: the record without its per-epoch history."""

    job_id = fields.String(required=True)
    model = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(
        ["queued", "running", "succeeded", "failed", "cancelled"]))
    progress = fields.Nested(ProgressSchema, allow_none=True)
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


class JobSchema(JobSummarySchema):
    """The full job record: its summary and the history, one entry per epoch."""

    history = fields.List(fields.Dict(), allow_none=True)


class JobListQuerySchema(Schema):
    model = fields.String(validate=_NAME)
    status = fields.String(validate=validate.OneOf(
        ["queued", "running", "succeeded", "failed", "cancelled"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10**9))


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSummarySchema))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class PredictRequestSchema(Schema):
    model = fields.String(required=True, validate=_NAME,
                          metadata={"example": "iris"})
    version = fields.Raw(load_default=None, metadata={
        "description": "A version number, 'latest' or an alias; default (or null) the newest.",
        "nullable": True,
        "oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                  {"type": "string", "pattern": VERSION_REF_PATTERN}],
        "example": "production"})
    instances = fields.Raw(required=True, metadata={
        "description": "Rows of numbers, shape (n_rows, n_features).", **ROWS,
        "example": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})


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
    version = fields.Integer(required=True, strict=True,
                             validate=validate.Range(1, MAX_VERSION), metadata={"example": 1})


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
