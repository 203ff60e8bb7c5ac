"""Schemas of the alias routes: move (plain or weighted, optionally gated), history, rollback."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from service.api.gate_schemas import GateSchema
from service.api.schemas import DatasetSchema
from service.names import MAX_VERSION, VERSION_NUMBER_PATTERN


class RequireSchema(GateSchema):
    data = fields.Nested(DatasetSchema, required=True, metadata={
        "description": "Labelled rows both versions are evaluated on, in any form /train "
                       "takes."})


#: An alias target as the API shows it: a version number, or weighted versions.
TARGET = {"oneOf": [
    {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
    {"type": "object", "properties": {"versions": {
        "type": "object", "additionalProperties": {"type": "integer", "minimum": 0,
                                                   "maximum": 100}}}}]}
_WEIGHTS = {"type": "object", "minProperties": 1, "maxProperties": 100,
            "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 100},
            "description": "Version number (the key: digits) → integer weight (a percentage "
                           "of the traffic); the weights sum to 100.",
            "example": {"6": 90, "7": 10}}


class AliasRequestSchema(Schema):
    version = fields.Integer(strict=True, validate=validate.Range(1, MAX_VERSION),
                             metadata={"example": 1})
    versions = fields.Dict(keys=fields.String(validate=validate.Regexp(
                               VERSION_NUMBER_PATTERN, error="must be a version number")),
                           values=fields.Integer(strict=True, validate=validate.Range(0, 100)),
                           metadata=_WEIGHTS)
    require = fields.Nested(RequireSchema, metadata={
        "description": "Move only if the version beats the alias's current one on data "
                       "(409 otherwise, with both scores). Not with versions."})

    @validates_schema
    def _one_target(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("version" in data) == ("versions" in data):
            raise ValidationError("give version or versions, not both", "version")
        weights = data.get("versions")
        if weights is not None:
            if sum(weights.values()) != 100:
                raise ValidationError(f"weights must sum to 100, got {sum(weights.values())}",
                                      "versions")
            if "require" in data:
                raise ValidationError("goes with version: a split is not gated", "require")


class AliasSchema(Schema):
    model = fields.String()
    alias = fields.String()
    version = fields.Integer(metadata={"description": "A plain alias: its version."})
    versions = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={
        "description": "A weighted alias: version → weight."})
    promotion = fields.Dict(metadata={"description": "With require: what was compared."})


class HistoryEntrySchema(Schema):
    seq = fields.Integer()
    alias = fields.String()
    old = fields.Raw(allow_none=True, metadata={**TARGET, "nullable": True})
    new = fields.Raw(allow_none=True, metadata={**TARGET, "nullable": True})
    time = fields.String()
    key_id = fields.String(allow_none=True, metadata={
        "description": "The part of the caller's API key before ':' (never the secret)."})
    reason = fields.String(validate=validate.OneOf(["manual", "promotion", "rollback"]))
    promotion = fields.Dict(metadata={"description": "reason promotion: what was compared, "
                                                     "both scores, the interval."})
    undoes = fields.Integer(metadata={"description": "reason rollback: the seq it undid."})


class HistorySchema(Schema):
    model = fields.String()
    alias = fields.String()
    current = fields.Raw(allow_none=True, metadata={**TARGET, "nullable": True})
    history = fields.List(fields.Nested(HistoryEntrySchema), metadata={
        "description": "Newest first."})


class RollbackSchema(AliasSchema):
    history_entry = fields.Nested(HistoryEntrySchema, allow_none=True)
