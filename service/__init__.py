"""nnserve's Flask service: ``create_app(test_config)`` is the app factory gunicorn calls."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from service.config import Settings
from service.proxies import TrustedProxies, parse_networks

if TYPE_CHECKING:  # Flask is imported by the app, not by ``import service`` (the worker)
    from flask import Flask


def _package_version() -> str:
    """The installed distribution's version: pyproject.toml is its one source."""
    try:
        return version("nnserve")
    except PackageNotFoundError:  # a source tree run without being installed
        return "0+unknown"


__version__ = _package_version()


def create_app(test_config: dict[str, object] | None = None) -> Flask:
    """Build the app. ``test_config`` overrides settings by field name (``store``, ``queue``...)."""
    from flask import Flask

    settings = Settings.from_env(test_config)
    app = Flask(__name__)
    app.config.update(
        NNSERVE=settings,
        MAX_CONTENT_LENGTH=None,  # enforced by service.api.body with a problem+json 413
        API_TITLE="nnserve",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
    )
    from service import auth, observability
    from service.api import headers, register_api
    from service.metrics import set_store_writable_source
    from service.runtime import get_runtime

    if settings.trusted_proxies:
        # Flask's documented way to add WSGI middleware (mypy sees a method assignment)
        app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
            app.wsgi_app, parse_networks(settings.trusted_proxies))
    observability.configure_logging(settings.log_level, settings.log_format)
    register_api(app)
    auth.init_app(app)
    headers.init_app(app)
    observability.init_app(app)
    observability.set_models_loaded_source(_models_loaded)
    observability.set_queue_depth_source(
        lambda: get_runtime().jobs.job_store.list(status="queued", limit=1)[1])
    set_store_writable_source(lambda: int(get_runtime().store.writable()[0]))
    return app


def _models_loaded() -> int | None:
    """This process's loaded model versions (None before its runtime exists)."""
    from flask import current_app

    runtime = current_app.extensions.get("nnserve")
    return None if runtime is None else runtime.cache.loaded_count()
