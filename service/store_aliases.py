"""The model store's aliases: ``<name>/aliases.json``, replaced only under the model's alias lock
(every move through an ``AliasTxn``, recorded in the history, see ``service.aliases``), and what
a version reference stands for: a version, or a weighted alias's ``Split`` that routes each
request (``service.routing``).

``AliasRegistry`` is a base of ``service.store.ModelStore``; callers use it through the store.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service import routing
from service.aliases import AliasTxn, Target, parse_target, read_history, target_json
from service.errors import NotFound, ServiceError
from service.names import is_version_ref, parse_version, validate_alias
from service.store_files import (
    ALIAS_LOCK,
    fsync_path,
    locked,
    read_nofollow,
    tmp_name,
    write_synced,
)
from service.store_layout import StoreLayout


class AliasRegistry(StoreLayout):
    """Aliases of the models under ``<root>/models``; safe to share between processes."""

    # -- what a reference stands for -----------------------------------------------------------
    def resolve(self, name: str, ref: int | str | None = None) -> int:
        """Version number for ``ref``: None/"latest" → newest, int/digits → itself, else alias
        (a weighted alias routes the current request, see ``service.routing``)."""
        target = self.target(name, ref)
        if isinstance(target, routing.Split):
            version = target.pick(routing.routing_key())
            self._version_dir(name, version)
            return version
        return target

    def target(self, name: str, ref: int | str | None = None) -> Target:
        """What ``ref`` stands for: a version number, or a weighted alias's ``Split``."""
        if ref is None or ref == "latest":
            return self.latest(name)
        if is_version_ref(ref):
            version = parse_version(ref)
            self._version_dir(name, version)
            return version
        alias = validate_alias(ref)
        pinned = self.targets(name).get(alias)
        if pinned is None:
            raise NotFound(f"alias {alias!r} of model {name!r} not found")
        if not isinstance(pinned, routing.Split):
            self._version_dir(name, pinned)
        return pinned

    # -- aliases.json --------------------------------------------------------------------------
    @staticmethod
    def _read_aliases(model_dir: Path) -> dict[str, Target]:
        try:
            raw = read_nofollow(model_dir / "aliases.json")
        except FileNotFoundError:
            return {}
        try:
            return {str(k): parse_target(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError, TypeError) as e:
            raise ServiceError(f"{model_dir.name}/aliases.json is unreadable: {e}") from e

    def _write_aliases(self, model_dir: Path, aliases: dict[str, Target]) -> None:
        tmp = model_dir / tmp_name("tmp", "aliases")
        doc = {alias: target_json(target) for alias, target in aliases.items()}
        try:
            write_synced(tmp, json.dumps(doc, indent=2, sort_keys=True).encode())
            os.replace(tmp, model_dir / "aliases.json")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_path(model_dir)

    def aliases(self, name: str) -> dict[str, Any]:
        """``{alias: version}`` of one model; a weighted alias as ``{"versions": {v: w}}``."""
        return {a: target_json(t) for a, t in self.targets(name).items()}

    def targets(self, name: str) -> dict[str, Target]:
        """``{alias: version or Split}`` of one model."""
        return self._read_aliases(self._model_dir(name))

    # -- moves ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def alias_txn(self, name: str, alias: str, *, create: bool = False) -> Iterator[AliasTxn]:
        """Hold the model's alias lock (across processes) and yield ``alias`` to read and move:
        a compare-and-move in it is atomic against every other move. ``create``: the model dir
        may not exist yet (a first version about to be published)."""
        alias = validate_alias(alias)
        model_dir = self._ensure_model_dir(name) if create else self._model_dir(name)
        with locked(model_dir, ALIAS_LOCK):
            yield AliasTxn(model_dir, name, alias, self._read_aliases(model_dir),
                           lambda aliases: self._write_aliases(model_dir, aliases),
                           lambda version: self._version_dir(name, version))

    def set_alias(self, name: str, alias: str, target: Target, *, key_id: str | None = None,
                  reason: str = "manual") -> None:
        """Point ``alias`` at an existing version or ``Split`` (NotFound if a version does not
        exist) and record the move."""
        if not isinstance(target, routing.Split):
            target = parse_version(target)
        with self.alias_txn(name, alias) as txn:
            txn.move(target, key_id=key_id, reason=reason)

    def delete_alias(self, name: str, alias: str, *, key_id: str | None = None) -> None:
        """Remove ``alias`` (NotFound if absent) and record it."""
        with self.alias_txn(name, alias) as txn:
            if txn.current is None:
                raise NotFound(f"alias {txn.alias!r} of model {name!r} not found")
            txn.move(None, key_id=key_id)

    def alias_history(self, name: str, alias: str) -> list[dict[str, Any]]:
        """The recorded moves of ``alias``, oldest first."""
        alias = validate_alias(alias)
        return [e for e in read_history(self._model_dir(name)) if e.get("alias") == alias]
