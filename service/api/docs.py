"""Small decorators that document what the views parse by hand (bodies, error responses)."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

from flask_smorest import Blueprint
from marshmallow import Schema

from service.api.problems import PROBLEM_JSON
from service.api.schemas import ProblemSchema


def body_doc(schema: type[Schema], *content_types: str,
             description: str | None = None) -> Callable:
    """Document a request body the view reads itself (fast JSON, CSV) instead of via webargs."""
    types = content_types or ("application/json",)
    body = {"required": True, "content": {ct: {"schema": schema} for ct in types}}
    if description:
        body["description"] = description
    return Blueprint.doc(requestBody=body)


def problems(blp: Blueprint, *codes: int) -> Callable:
    """Document the problem+json error responses a view can give."""
    decorators = [blp.alt_response(code, schema=ProblemSchema, content_type=PROBLEM_JSON,
                                   success=False) for code in codes]
    return lambda func: reduce(lambda f, d: d(f), decorators, func)
