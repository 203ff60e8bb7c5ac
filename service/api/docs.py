"""Small decorators that document what the views parse by hand (bodies, path parameters, errors)."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import Any, TypeVar

from flask_smorest import Api, Blueprint
from marshmallow import Schema

from service.api.problems import PROBLEM_JSON
from service.api.schemas import ProblemSchema
from service.names import ALIAS_PATTERN, NAME_PATTERN, VERSION_NUMBER_PATTERN

# Path parameters as the handlers validate them (``service.names``); anything else is a 422.
PATH_PARAMS: dict[str, dict[str, Any]] = {
    "name": {"description": "Model name.",
             "schema": {"type": "string", "pattern": NAME_PATTERN}, "example": "iris"},
    "version": {"description": "Version number (1 or more).",
                "schema": {"type": "string", "pattern": VERSION_NUMBER_PATTERN}, "example": "1"},
    "alias": {"description": "Alias name: a model name that is not all digits nor 'latest'.",
              "schema": {"type": "string", "pattern": ALIAS_PATTERN}, "example": "production"},
}


def path_params(*names: str) -> list[dict[str, Any]]:
    """``parameters=`` for ``blp.route``: the documented form of these path parameters."""
    return [{"in": "path", "name": n, "required": True, **PATH_PARAMS[n]} for n in names]


# A view function; the decorators below return it as it was.
View = TypeVar("View", bound=Callable[..., Any])


def body_doc(schema: type[Schema] | dict[str, Any], *content_types: str,
             description: str | None = None) -> Callable[[View], View]:
    """Document a request body the view reads itself (fast JSON, CSV) instead of via webargs."""
    types = content_types or ("application/json",)
    body = {"required": True, "content": {ct: {"schema": schema} for ct in types}}
    if description:
        body["description"] = description
    return doc_only(Blueprint.doc(requestBody=body))


def problems(blp: Blueprint, *codes: int) -> Callable[[View], View]:
    """Document the problem+json error responses a view can give."""
    return doc_only(*[blp.alt_response(code, schema=ProblemSchema, content_type=PROBLEM_JSON,
                                       success=False) for code in codes])


def doc_only(*decorators: Callable[[Any], Any]) -> Callable[[View], View]:
    """Apply flask-smorest decorators for the docs they record, without their wrappers.

    Each wrapper adds a call layer to every request; a view that builds its own ``Response``
    (the prediction routes) needs none of them.
    """
    def document(func: View) -> View:
        documented: Any = reduce(lambda f, d: d(f), decorators, func)  # flask-smorest's
        func.__dict__["_apidoc"] = documented._apidoc  # where it reads the docs from
        return func

    return document


def problem_default(api: Api) -> None:
    """Make every operation's ``default`` response the problem+json one we really send.

    flask-smorest's own default error response is ``application/json`` with its ``Error``
    schema, which none of our routes answers. Call before registering blueprints.
    """
    api.spec.components.schema("Problem", schema=ProblemSchema)
    api.spec.components.response("PROBLEM", {
        "description": "Any other error, as application/problem+json (RFC 9457)",
        "content": {PROBLEM_JSON: {"schema": "Problem"}}})
    api.DEFAULT_ERROR_RESPONSE_NAME = "PROBLEM"
