"""Registers every blueprint, the error mapping and the locally served docs page."""

from __future__ import annotations

from flask import Flask, Response, send_from_directory
from flask_smorest import Api
from swagger_ui_bundle import swagger_ui_path

from service.api import evaluation, health, kserve, models, predict, tfserving, train
from service.api.docs import problem_default
from service.api.problems import register_error_handlers


def register_api(app: Flask) -> Api:
    api = Api(app, spec_kwargs={"info": {"description": (
        "Train and serve NumPy neural-network classifiers. Errors are application/problem+json "
        "(RFC 9457).")}})
    problem_default(api)
    for module in (health, train, predict, models, evaluation, tfserving, kserve):
        api.register_blueprint(module.blp)
    register_error_handlers(app)

    @app.get("/docs/assets/<path:filename>")
    def swagger_assets(filename: str) -> Response:
        return send_from_directory(str(swagger_ui_path), filename)

    return api
