"""marshmallow schemas of our REST API: request structure and the documented response shapes.

Large numeric arrays are ``Raw`` here and checked with NumPy (``service.arrays``): element-wise
fields cost ~40x more on 100k floats.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from models.params import JOB_PARAM_RANGES, PARAM_RANGES, TABULAR_PARAM_RANGES, check_param
from models.tabular import KINDS
from service.api.evaluation_schemas import EvaluationSchema
from service.api.gate_schemas import PromoteSchema
from service.jobs.validation import MAX_DESCRIPTION
from service.names import FLOAT32_MAX, MAX_VERSION, NAME_PATTERN, NAME_RULE, VERSION_REF_PATTERN

NAME = validate.Regexp(NAME_PATTERN, error=f"must be {NAME_RULE}")
_VERSION_REF = re.compile(VERSION_REF_PATTERN)
# Rows of numbers: JSON Schema cannot say "all rows equally long" nor "as many labels as rows"
# nor "finite in float32"; the handlers answer 422 for those.
ROWS = {"type": "array", "minItems": 1, "items": {
    "type": "array", "minItems": 1,
    "items": {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}}}
# A tabular cell: a number, text, a boolean or null (missing).
CELL = {"nullable": True, "oneOf": [
    {"type": "number", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX},
    {"type": "string"}, {"type": "boolean"}]}
CELL_ROWS = {"type": "array", "minItems": 1, "items": {"type": "array", "minItems": 1,
                                                         "items": CELL}}
RECORDS = {"type": "array", "minItems": 1,
           "items": {"type": "object", "additionalProperties": CELL}}
# Integer labels are stored as int64.
INT64 = {"type": "integer", "minimum": -2**63, "maximum": 2**63 - 1}


def param_json_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI 3.0 schema of one ``models.params.PARAM_RANGES`` entry."""
    kind = spec["type"]
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "choice":
        return {"type": "string", "enum": list(spec["choices"])}
    if kind == "int_list":
        return {"type": "array", "minItems": 0, "maxItems": spec["max_length"],
                "items": {"type": "integer", "minimum": spec["min"], "maximum": spec["max"]}}
    out = {"type": "integer" if kind == "int" else "number",
           "minimum": spec["min"], "maximum": spec["max"]}
    if spec.get("min_exclusive"):
        out["exclusiveMinimum"] = True
    if spec.get("max_exclusive"):
        out["exclusiveMaximum"] = True
    return out


class EngineParam(fields.Field[Any]):
    """A hyper-parameter checked by the engine's own rule and documented from it."""

    def __init__(self, name: str) -> None:
        spec = PARAM_RANGES.get(name) or TABULAR_PARAM_RANGES.get(name) or \
            JOB_PARAM_RANGES[name]
        super().__init__(metadata=param_json_schema(spec))
        self.param = name

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        try:
            return check_param(self.param, value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


#: ``params`` of a training request: one field per ``PARAM_RANGES`` entry.
ParamsSchema = Schema.from_dict({
    **{name: EngineParam(name)
       for name in (*PARAM_RANGES, *TABULAR_PARAM_RANGES, *JOB_PARAM_RANGES)},
    "feature_types": fields.Dict(
        keys=fields.String(), values=fields.String(validate=validate.OneOf(KINDS)),
        metadata={"description": "Tabular data: a column's type, overriding the inferred one "
                                 "(e.g. numeric-looking codes as categorical).",
                  "example": {"zip_code": "categorical"}}),
    "warm_start_from": fields.Raw(metadata={
        "description": "Start from this version (a number, 'latest' or an alias) of the same "
                       "model: its weights and encoding; hidden_layers and activation must "
                       "match it.", "example": "production",
        "oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                  {"type": "string", "pattern": VERSION_REF_PATTERN}]}),
}, name="ParamsSchema")


class DatasetSchema(Schema):
    features = fields.Raw(load_default=None, metadata={
        "description": "Rows, shape (n_rows, n_features): numbers, or (tabular data, with "
                       "feature_names) cells that are numbers, text, booleans or null. Give "
                       "features or records.", **CELL_ROWS,
        "example": [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.3, 3.3, 6.0, 2.5]]})
    records = fields.Raw(load_default=None, metadata={
        "description": "Tabular data as objects keyed by column name (a missing key is a "
                       "missing cell). Give features or records.", **RECORDS,
        "example": [{"island": "Biscoe", "bill_mm": 45.1, "sex": None}]})
    label_column = fields.String(load_default=None, validate=validate.Length(min=1), metadata={
        "description": "With records: the key holding each record's label (instead of labels)."})
    labels = fields.Raw(load_default=None, metadata={
        "description": "One class label per row: all integers or all non-empty strings.",
        "oneOf": [{"type": "array", "minItems": 1, "items": INT64},
                  {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}],
        "example": ["setosa", "versicolor", "virginica"]})
    feature_names = fields.List(fields.String(), load_default=None,
                                validate=validate.Length(min=1), metadata={
        "description": "One name per feature column (optional).",
        "example": ["sepal_length", "sepal_width", "petal_length", "petal_width"]})


    @validates_schema
    def _one_form(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data.get("features") is None) == (data.get("records") is None):
            raise ValidationError("give features or records, not both", "features")
        if data.get("label_column") is not None:
            if data.get("records") is None:
                raise ValidationError("goes with records; rows take labels", "label_column")
            if data.get("labels") is not None:
                raise ValidationError("give labels or label_column, not both", "label_column")
        elif data.get("labels") is None:
            raise ValidationError("is required (or, with records, label_column)", "labels")


def _description() -> fields.String:
    return fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(1, MAX_DESCRIPTION), metadata={
                             "description": "What the model is for: its card's intended use.",
                             "example": "Iris species from flower measurements."})


class TrainRequestSchema(Schema):
    model = fields.String(required=True, validate=NAME,
                          metadata={"example": "iris"})
    data = fields.Nested(DatasetSchema, required=True)
    params = fields.Nested(ParamsSchema, load_default=dict)
    search = fields.Raw(load_default=None, metadata={
        "description": 'A hyper-parameter search: "auto", or parameter → a list of choices or '
                       '{"log_uniform": [lo, hi]}, {"uniform": [lo, hi]}, '
                       '{"int_uniform": [lo, hi]}. Searched parameters may not be in params.',
        "example": {"learning_rate": {"log_uniform": [1e-4, 3e-2]},
                    "hidden_layers": [[64], [128, 64]]}})
    strategy = fields.Raw(load_default=None, metadata={
        "type": "string", "enum": ["grid", "random", "halving"],
        "description": "With search: how trials are chosen (default halving)."})
    budget = fields.Raw(load_default=None, metadata={
        "type": "object", "description": 'With search: {"trials": N, "max_epochs": E}.',
        "example": {"trials": 12, "max_epochs": 27}})
    description = _description()
    # optional, not nullable: OpenAPI 3.0 can only allow null beside a $ref by allowing any object
    promote = fields.Nested(PromoteSchema, metadata={
        "description": "When the job succeeds, move this alias to the new version only if it "
                       "beats the alias's version on the new version's held-out test rows "
                       "(needs the train and admin scopes)."})


class TrainQuerySchema(Schema):
    model = fields.String(required=True, validate=NAME)
    label_column = fields.String(load_default=None)
    description = _description()


class VersionRef(fields.Field[int | str]):
    """A version reference: a version number, "latest" or an alias; null means the newest."""

    default_error_messages = {
        "invalid": "must be a version number, 'latest' or an alias name",
        "too_small": "version numbers start at 1",
        "too_large": f"version numbers end at {MAX_VERSION}",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, load_default=None, metadata={
            "description": "A version number, 'latest' or an alias; default (or null) the "
                           "newest.",
            "nullable": True,
            "oneOf": [{"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                      {"type": "string", "pattern": VERSION_REF_PATTERN}],
            "example": "production"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | str:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.make_error("invalid")
        if isinstance(value, int):
            if value < 1:
                raise self.make_error("too_small")
            if value > MAX_VERSION:
                raise self.make_error("too_large")
        elif not _VERSION_REF.match(value):
            raise self.make_error("invalid")
        return value


class PredictRequestSchema(Schema):
    model = fields.String(required=True, validate=NAME,
                          metadata={"example": "iris"})
    version = VersionRef()
    instances = fields.Raw(required=True, metadata={
        "description": "Rows, shape (n_rows, n_features), in the model's feature order; for a "
                       "model trained on tabular data also records (objects keyed by feature "
                       "name), and cells may be text, booleans or null (missing).",
        "oneOf": [CELL_ROWS, RECORDS],
        "example": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})


class PredictQuerySchema(Schema):
    """``POST /predict`` with a CSV body names the model in the query string."""

    model = fields.String(required=True, validate=NAME)
    version = fields.String(load_default=None, validate=validate.Regexp(VERSION_REF_PATTERN),
                            metadata={"description": "A version number, 'latest' or an alias "
                                                     "(default the newest)."})


class CoercionSchema(Schema):
    row = fields.Integer()
    feature = fields.String()
    kind = fields.String(validate=validate.OneOf(["imputed", "unseen_category"]))
    value = fields.String(metadata={"description": "The category (unseen_category only)."})


class PredictResponseSchema(Schema):
    model = fields.String()
    version = fields.Integer()
    classes = fields.List(fields.Raw())
    probabilities = fields.List(fields.List(fields.Float()))
    labels = fields.List(fields.Raw())
    warnings = fields.List(fields.Nested(CoercionSchema), metadata={
        "description": "Tabular models only, and only when not empty: per row, cells that "
                       "were missing (imputed as in training) and categories never seen in "
                       "training (served as 'other')."})


class ModelSummarySchema(Schema):
    name = fields.String()
    versions = fields.List(fields.Integer())
    aliases = fields.Dict(keys=fields.String(), values=fields.Raw(), metadata={
        "description": "Alias → version number, or → {\"versions\": {version: weight}} for "
                       "a weighted (canary) alias."})
    latest = fields.Integer(allow_none=True)


class ModelListSchema(Schema):
    models = fields.List(fields.Nested(ModelSummarySchema))


class InputColumnSchema(Schema):
    """One input column of a model trained on tabular data, as training saw it."""

    name = fields.String()
    type = fields.String(validate=validate.OneOf(KINDS))
    missing_rate = fields.Float(metadata={"description": "Share of training rows missing it."})
    dropped = fields.Boolean(metadata={"description": "Constant or empty in training: unused."})
    dropped_reason = fields.String(metadata={"description": "constant or all_missing"})
    categories = fields.List(fields.String(), metadata={
        "description": "Categorical: the categories with a column of their own, most frequent "
                       "first; others are served as 'other'."})
    median = fields.Float(metadata={"description": "Numeric and boolean: what a missing cell "
                                                   "becomes."})
    mean = fields.Float()
    std = fields.Float()


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
    search = fields.Dict(metadata={
        "description": "Made by a search: strategy, space, budget, best_trial and the trial "
                       "table (one row per run: params, epochs reached, scores, status, host)."})
    input_schema = fields.List(fields.Nested(InputColumnSchema), metadata={
        "description": "Models trained on tabular data: each input column, in order."})
    encoding = fields.Dict(metadata={
        "description": "Models trained on tabular data: feature_types, max_categories and "
                       "min_frequency as used."})
    evaluation = fields.Nested(EvaluationSchema, metadata={
        "description": "Held-out evaluation (params.test_split); absent in older versions."})
    description = fields.String(allow_none=True, metadata={
        "description": "What the model is for, as given to POST /train."})
    parent_version = fields.Integer(metadata={
        "description": "Warm-started versions: the version training started from."})
    classes_added = fields.List(fields.Raw(), metadata={
        "description": "Warm-started versions: classes the parent did not have."})
    promotion = fields.Dict(metadata={
        "description": "Trained with promote: what was compared, both scores, the interval, "
                       "whether the alias moved."})


class HealthSchema(Schema):
    status = fields.String()
    checks = fields.Dict()


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
