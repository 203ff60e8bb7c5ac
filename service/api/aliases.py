"""``/models/<name>/aliases/<alias>``: move (plain, weighted or gated), delete, history, rollback
(HTTP translation only). The routes belong to the registry's blueprint, so moves need the admin
scope and reading the history the predict scope, like the rest of ``/models``."""

from __future__ import annotations

from flask import Response

from service.api.alias_schemas import (
    AliasRequestSchema,
    AliasSchema,
    HistorySchema,
    RollbackSchema,
)
from service.api.body import json_object, load
from service.api.docs import body_doc, path_params, problems
from service.api.models import blp
from service.auth import current_key_id
from service.handlers import aliases, promotion
from service.runtime import get_runtime
from service.store import validate_alias, validate_model_name

_alias_request = AliasRequestSchema()


@blp.route("/models/<name>/aliases/<alias>", methods=["PUT"],
           parameters=path_params("name", "alias"))
@body_doc(AliasRequestSchema)
@blp.response(200, AliasSchema)
@problems(blp, 400, 404, 409, 413, 415, 422)
def put_alias(name: str, alias: str) -> dict[str, object]:
    """Point an alias (e.g. ``production``) at a version, or split its traffic between
    versions by weight (a canary); ``latest`` moves on by itself. Every move is recorded. With
    ``require`` the version must beat the alias's current one on the given data (409
    otherwise, with both scores)."""
    validate_model_name(name)
    validate_alias(alias)
    doc = load(_alias_request, json_object())
    runtime = get_runtime()
    if doc.get("require") is not None:
        return promotion.gated_move(runtime.store, runtime.settings, name, alias,
                                    doc["version"], doc["require"], current_key_id())
    return aliases.move(runtime.store, name, alias, aliases.target_of(doc), current_key_id())


@blp.route("/models/<name>/aliases/<alias>", methods=["DELETE"],
           parameters=path_params("name", "alias"))
@blp.response(204)
@problems(blp, 404, 422)
def delete_alias(name: str, alias: str) -> Response:
    """Remove an alias; the version it pointed at stays. Recorded in its history."""
    validate_model_name(name)
    validate_alias(alias)
    get_runtime().store.delete_alias(name, alias, key_id=current_key_id())
    return Response(status=204)


@blp.route("/models/<name>/aliases/<alias>/history", methods=["GET"],
           parameters=path_params("name", "alias"))
@blp.response(200, HistorySchema)
@problems(blp, 404, 422)
def alias_history(name: str, alias: str) -> dict[str, object]:
    """Every move of the alias, newest first: old and new target, time, key id, reason."""
    return aliases.history(get_runtime().store, name, alias)


@blp.route("/models/<name>/aliases/<alias>/rollback", methods=["POST"],
           parameters=path_params("name", "alias"))
@blp.response(200, RollbackSchema)
@problems(blp, 404, 409, 422)
def rollback_alias(name: str, alias: str) -> dict[str, object]:
    """Move the alias back to where it pointed before its latest move (again: one further)."""
    return aliases.rollback(get_runtime().store, name, alias, current_key_id())
