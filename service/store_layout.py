"""The model store's directories: ``<root>/models/<name>/<version>``, looked up without ever
following a symlink (a symlinked model or version dir counts as absent).

``StoreLayout`` is the base of ``service.store.ModelStore``: the paths and the visible versions
every other part of the store works on.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from service.errors import NotFound, ServiceError
from service.names import parse_version, validate_model_name
from service.store_files import VERSION_DIR, is_kind


class StoreLayout:
    """Paths of models and versions under ``<root>/models``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.models_dir = self.root / "models"
        self._models_path = str(self.models_dir)  # joined by f-string on the hot path
        self.models_dir.mkdir(parents=True, exist_ok=True)

    def _model_dir(self, name: str) -> Path:
        """The model's dir; NotFound when absent (a symlink counts as absent)."""
        path = self.models_dir / validate_model_name(name)
        if not is_kind(path):
            raise NotFound(f"model {name!r} not found")
        return path

    def _version_dir(self, name: str, version: int | str) -> Path:
        version = parse_version(version)
        path = self._model_dir(name) / str(version)
        if not is_kind(path):
            raise NotFound(f"version {version} of model {name!r} not found")
        return path

    def _ensure_model_dir(self, name: str) -> Path:
        path = self.models_dir / validate_model_name(name)
        with contextlib.suppress(FileExistsError):
            path.mkdir()
        if not is_kind(path):
            raise ServiceError(f"store entry models/{name} is not a directory; refusing to use it")
        return path

    @staticmethod
    def _version_numbers(model_dir: Path) -> list[int]:
        return sorted(
            int(e.name) for e in os.scandir(model_dir)
            if VERSION_DIR.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
        )

    def versions(self, name: str) -> list[int]:
        """Visible versions of ``name``, ascending; NotFound when it has none."""
        found = self._version_numbers(self._model_dir(name))
        if not found:
            raise NotFound(f"model {name!r} has no versions")
        return found

    def latest(self, name: str) -> int:
        """The newest visible version of ``name``."""
        return self.versions(name)[-1]
