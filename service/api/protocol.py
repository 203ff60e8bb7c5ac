"""The HTTP edge TF Serving (``/v1``) and KServe V2 (``/v2``) share: JSON answers and errors.

Both protocols answer an error as ``{"error": "..."}``; a validation failure, a 422 in our own
API, is their 400.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import Any

import orjson
from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from service.api.docs import View
from service.errors import ServiceError


class ProtocolErrorSchema(Schema):
    error = fields.String(metadata={"description": "What went wrong."})


def json_response(body: Any, status: int = 200) -> Response:
    """``body`` as JSON; NumPy arrays are written as nested lists."""
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status=status,
                    mimetype="application/json")


def error_response(error: ServiceError) -> Response:
    """``{"error": "..."}`` with the error's status (422 becomes 400) and headers."""
    resp = json_response({"error": error.detail}, 400 if error.status == 422 else error.status)
    for name, value in error.headers.items():
        resp.headers[name] = value
    return resp


def errors(blp: Blueprint, *codes: int) -> Callable[[View], View]:
    """Document ``{"error": ...}`` responses of a view of ``blp``."""
    decorators = [blp.alt_response(code, schema=ProtocolErrorSchema,
                                   content_type="application/json", success=False)
                  for code in codes]
    return lambda func: reduce(lambda f, d: d(f), decorators, func)
