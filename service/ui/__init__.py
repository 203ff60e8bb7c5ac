"""The web console's pages and assets, shipped as package data (``service/ui/static``,
``service/ui/templates``). They hold no data: the pages fetch everything from the JSON API."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

# Real directories: pip installs package data as plain files, which Flask serves from disk.
UI_ROOT = Path(str(files("service.ui")))
STATIC_DIR = UI_ROOT / "static"
TEMPLATE_DIR = UI_ROOT / "templates"
PAGES = ("models", "model", "version", "jobs")
