"""The console's pages and assets: shipped in the wheel, open without a key, holding no data,
fetching nothing from elsewhere, and the vendored chart library as recorded."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from importlib.resources import files

import pytest

from service import create_app
from service.ui import PAGES
from tests.server import ROOT

KEYS = "console-admin:admin,console-reader:predict"
PAGE_PATHS = ["/ui", "/ui/models/iris", "/ui/models/iris/versions/1", "/ui/jobs"]


@pytest.fixture
def keyed_client(tmp_path, store):
    app = create_app({"store": tmp_path / "store", "api_keys": KEYS})
    app.config["TESTING"] = True
    return app.test_client()


def _package_files() -> list[str]:
    """Every file of the console as the installed package holds it, relative to ``service/ui``."""
    root = files("service.ui")
    found, todo = [], [(root, "")]
    while todo:
        node, prefix = todo.pop()
        for child in node.iterdir():
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                if child.name != "__pycache__":
                    todo.append((child, rel + "/"))
            elif not rel.endswith(".py"):
                found.append(rel)
    return sorted(found)


def test_the_build_ships_every_page_and_asset(tmp_path):
    # build_py lays out what the wheel holds: the packages with their package data.
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q",
                    "build_py", "--build-lib", str(tmp_path)], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    wanted = _package_files()
    assert {"templates/console.html", "static/common.js", "static/vendor/uPlot.iife.min.js",
            "static/vendor/uPlot.LICENSE", "static/vendor/VENDORED.md"} <= set(wanted)
    assert {f"static/{p}.js" for p in PAGES} <= set(wanted)
    missing = [f for f in wanted if f"service/ui/{f}" not in names]
    assert not missing, f"not in the built package: {missing}"


def test_vendored_chart_library_is_as_recorded():
    vendor = files("service.ui") / "static" / "vendor"
    record = (vendor / "VENDORED.md").read_text()
    version = re.search(r"\| (\d+\.\d+\.\d+) \| MIT", record).group(1)
    for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", record, re.M):
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert (vendor / "uPlot.iife.min.js").read_text().startswith(
        f"/*! https://github.com/leeoniya/uPlot (v{version}) */")
    assert "MIT License" in (vendor / "uPlot.LICENSE").read_text()


def test_own_pages_reference_nothing_outside_the_origin():
    static = files("service.ui") / "static"
    own = [f for f in static.iterdir() if f.is_file()]  # ours; vendor/ is a directory
    own += [files("service.ui") / "templates" / "console.html"]
    assert len(own) >= len(PAGES) + 3
    for f in own:
        text = f.read_text()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), f.name
        assert "localStorage." not in text and "document.cookie" not in text, f.name


def test_root_redirects_to_the_console(client):
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == "/ui"


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_pages_need_no_key_and_hold_no_data(keyed_client, path):
    resp = keyed_client.get(path)
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    body = resp.get_data(as_text=True)
    assert "setosa" not in body and "iris" not in body  # the store has iris models
    script = re.search(r'type="module" src="(/ui/static/\w+\.js)"', body)
    asset = keyed_client.get(script.group(1))
    assert asset.status_code == 200
    asset.close()
    assert keyed_client.get("/models").status_code == 401  # the data itself stays guarded


def test_static_assets_need_no_key(keyed_client):
    for name in ("common.js", "console.css", "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css"):
        resp = keyed_client.get(f"/ui/static/{name}")
        assert resp.status_code == 200, name
        resp.close()


@pytest.mark.parametrize("path", ["/ui/models/bad%20name", "/ui/models/iris/versions/x"])
def test_page_paths_are_validated(client, path):
    resp = client.get(path)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
