"""``/models``: the registry of model versions and aliases (HTTP translation only)."""

from __future__ import annotations

from flask import Response, send_file
from flask_smorest import Blueprint

from service.api.docs import path_params, problems
from service.api.schemas import ModelListSchema, ModelSummarySchema, VersionMetaSchema
from service.runtime import get_runtime
from service.store import parse_version, validate_model_name

blp = Blueprint("models", __name__, description="Model registry: versions and aliases")


@blp.route("/models", methods=["GET"])
@blp.response(200, ModelListSchema)
def list_models() -> dict[str, object]:
    """Every model with its versions, aliases and latest version."""
    store = get_runtime().store
    return {"models": [store.summary(name) for name in store.list_models()]}


@blp.route("/models/<name>", methods=["GET"],
           parameters=path_params("name"))
@blp.response(200, ModelSummarySchema)
@problems(blp, 404, 422)
def get_model(name: str) -> dict[str, object]:
    """One model: versions, aliases, latest."""
    validate_model_name(name)
    return get_runtime().store.summary(name)


@blp.route("/models/<name>/versions/<version>", methods=["GET"],
           parameters=path_params("name", "version"))
@blp.response(200, VersionMetaSchema)
@problems(blp, 404, 422)
def get_version(name: str, version: str) -> dict[str, object]:
    """Metadata of one version: params, classes, metrics, history, dataset and artifact hashes."""
    return get_runtime().store.meta(name, parse_version(version))


@blp.route("/models/<name>/versions/<version>", methods=["DELETE"],
           parameters=path_params("name", "version"))
@blp.response(204)
@problems(blp, 404, 409, 422)
def delete_version(name: str, version: str) -> Response:
    """Delete a version (409 while an alias or a canary points at it; a version only the alias
    history names may go)."""
    get_runtime().store.delete_version(name, parse_version(version))
    return Response(status=204)


@blp.route("/models/<name>/versions/<version>/artifact", methods=["GET"],
           parameters=path_params("name", "version"))
@blp.response(200, description="The model.npz artifact",
              content_type="application/octet-stream")
@problems(blp, 404, 422)
def get_artifact(name: str, version: str) -> Response:
    """Download the version's ``model.npz`` (numeric arrays only; load with allow_pickle=False)."""
    v = parse_version(version)
    store = get_runtime().store
    meta = store.meta(name, v)  # 404 before any file is opened
    return send_file(store.artifact_path(name, v), mimetype="application/octet-stream",
                     as_attachment=True, download_name=f"{name}-v{v}.npz",
                     etag=meta["artifact_sha256"])
