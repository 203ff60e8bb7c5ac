"""``/ui``: the web console's pages (HTTP translation only; the pages read the JSON API).

The pages and their assets hold no data and need no key; their scripts fetch the JSON API with
the key the person gives, under that key's scopes.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template
from werkzeug.wrappers import Response as BaseResponse

from service.names import parse_version, validate_model_name
from service.ui import STATIC_DIR, TEMPLATE_DIR

# A plain Flask blueprint: the console is not part of the API, so not in the OpenAPI spec.
blp = Blueprint("ui", __name__, static_folder=str(STATIC_DIR), static_url_path="/ui/static",
                template_folder=str(TEMPLATE_DIR))

# Scripts, styles, images and requests from this origin only: nothing is fetched elsewhere.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


def _page(page: str) -> Response:
    return Response(render_template("console.html", page=page))


@blp.get("/")
def root() -> BaseResponse:
    return redirect("/ui", 302)


@blp.get("/ui")
def models_page() -> Response:
    return _page("models")


@blp.get("/ui/models/<name>")
def model_page(name: str) -> Response:
    validate_model_name(name)
    return _page("model")


@blp.get("/ui/models/<name>/versions/<version>")
def version_page(name: str, version: str) -> Response:
    validate_model_name(name)
    parse_version(version)
    return _page("version")


@blp.get("/ui/jobs")
def jobs_page() -> Response:
    return _page("jobs")


@blp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
