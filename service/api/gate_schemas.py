"""The rule of an evaluation-gated alias move (``promote`` of ``POST /train``, ``require`` of
``PUT /models/<name>/aliases/<alias>``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from models.compare import METRICS
from service.names import ALIAS_PATTERN


class GateSchema(Schema):
    """The rule a move must pass: the candidate beats the alias's current version."""

    metric = fields.String(load_default="accuracy", validate=validate.OneOf(METRICS),
                           metadata={"description": "log_loss, brier_score and ece: lower is "
                                                    "better; the others higher."})
    min_delta = fields.Float(load_default=0.0, validate=validate.Range(-1e6, 1e6),
                             metadata={"description": "How much better the candidate must be."})
    confident = fields.Boolean(load_default=False, metadata={
        "description": "The lower bound of the paired bootstrap 95% interval of the "
                       "improvement must reach min_delta, not only the point estimate."})


class PromoteSchema(GateSchema):
    alias = fields.String(required=True, validate=validate.Regexp(ALIAS_PATTERN),
                          metadata={"example": "production"})
