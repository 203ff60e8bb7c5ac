"""Filesystem model registry in TF Serving's layout.

``<root>/models/<name>/<version>/{model.npz, meta.json}`` plus ``<name>/aliases.json``. A version
is built in a hidden temp dir and ``os.rename``d into place, so it is visible only when complete,
and is immutable afterwards. Version numbers are allocated by exclusive create of
``<name>/.alloc/<v>`` and are never reused. Hidden entries (``.tmp-*``, ``.del-*``) are work in
progress; ``recover()`` removes the ones a crashed process left behind. Symlinks planted in the
store are never followed: a symlinked model or version dir counts as absent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.aliases import versions_of
from service.errors import Conflict, NotFound, ServiceError, ServiceUnavailable, reason
from service.names import is_model_name, parse_version, validate_alias, validate_model_name
from service.store_aliases import AliasRegistry
from service.store_files import (
    ALIAS_LOCK,
    ALLOC_LOCK,
    fsync_path,
    is_kind,
    is_stale,
    locked,
    read_nofollow,
    tmp_name,
    version_markers,
    write_synced,
)

__all__ = ["ArtifactCorrupt", "ModelStore", "parse_version", "validate_alias",
           "validate_model_name"]


class ArtifactCorrupt(ServiceUnavailable):
    """A stored artifact is missing, truncated or fails its sha256 check (503)."""

    slug = "artifact-corrupt"


class PublishWithdrawn(Conflict):
    """A publish whose ``commit`` refused it (e.g. its training job was reaped meanwhile)."""


class ModelStore(AliasRegistry):
    """Versioned models under ``<root>/models``; safe to share between processes.

    The paths and versions come from ``StoreLayout`` (``service.store_layout``), the aliases and
    what a reference resolves to from ``AliasRegistry`` (``service.store_aliases``).
    """

    # -- reading -------------------------------------------------------------------------------
    def list_models(self) -> list[str]:
        """Names of models with at least one visible version or alias, sorted."""
        names = []
        for entry in os.scandir(self.models_dir):
            if not is_model_name(entry.name) or not entry.is_dir(follow_symlinks=False):
                continue
            path = Path(entry.path)
            if self._version_numbers(path) or self._read_aliases(path):
                names.append(entry.name)
        return sorted(names)

    def meta(self, name: str, version: int) -> dict[str, Any]:
        """The ``meta.json`` of one version."""
        path = self._version_dir(name, version) / "meta.json"
        try:
            return json.loads(read_nofollow(path))
        except (OSError, ValueError) as e:
            raise ArtifactCorrupt(f"metadata of {name} v{version} is unreadable: {reason(e)}") \
                from e

    def artifact_path(self, name: str, version: int) -> Path:
        """Path of the version's ``model.npz`` (the version must exist; never a symlink)."""
        path = self._version_dir(name, version) / "model.npz"
        if not is_kind(path, stat.S_ISREG):
            raise ArtifactCorrupt(f"artifact of {name} v{version} is missing or not a file")
        return path

    def read_artifact(self, name: str, version: int) -> bytes:
        """The artifact's bytes, checked against the sha256 and size recorded in its meta."""
        meta = self.meta(name, version)
        label = f"{name} v{parse_version(version)}"
        try:
            data = read_nofollow(self.artifact_path(name, version))
        except FileNotFoundError:
            self._version_dir(name, version)  # deleted meanwhile → NotFound
            raise ArtifactCorrupt(f"artifact of {label} is missing") from None
        except OSError as e:  # ELOOP: a symlink planted in place of the file
            raise ArtifactCorrupt(f"artifact of {label} is unreadable: {reason(e)}") from e
        if len(data) != meta.get("artifact_bytes"):
            raise ArtifactCorrupt(f"artifact of {label} is truncated or resized "
                                  f"({len(data)} of {meta.get('artifact_bytes')} bytes)")
        if hashlib.sha256(data).hexdigest() != meta.get("artifact_sha256"):
            raise ArtifactCorrupt(f"artifact of {label} failed its sha256 check")
        return data

    def summary(self, name: str) -> dict[str, Any]:
        """``{"name", "versions", "aliases", "latest"}`` of one model."""
        found = self.versions(name)
        return {"name": name, "versions": found, "aliases": self.aliases(name),
                "latest": found[-1]}

    def freshness_token(self, name: str) -> int | None:
        """One ``stat`` of the model dir: its ``st_mtime_ns``, or None when there is no such dir.

        Every change a reader must notice changes the dir's entries, and so its mtime: a version
        renamed in (publish) or out (delete), ``aliases.json`` replaced. ``ModelCache`` relies on
        this to re-resolve only when the token changed. The token is a nanosecond timestamp from
        the filesystem's (possibly coarse) clock, so two changes in one tick may share it: callers
        must not trust a token younger than a short window (see ``ModelCache``).
        """
        try:
            st = os.stat(f"{self._models_path}/{validate_model_name(name)}",
                         follow_symlinks=False)
        except FileNotFoundError:
            return None
        return st.st_mtime_ns if stat.S_ISDIR(st.st_mode) else None

    # -- writing -------------------------------------------------------------------------------
    def _allocate(self, model_dir: Path) -> int:
        # The lock only makes recover()'s pruning of markers safe: exclusive create alone
        # already hands out distinct numbers (as long as no marker is removed meanwhile).
        alloc = model_dir / ".alloc"
        with contextlib.suppress(FileExistsError):
            alloc.mkdir()
        if not is_kind(alloc):
            raise ServiceError(f"store entry {alloc} is not a directory; refusing to use it")
        with locked(model_dir, ALLOC_LOCK):
            version = max(version_markers(alloc) + self._version_numbers(model_dir), default=0) + 1
            while True:
                try:
                    os.close(os.open(alloc / str(version), os.O_CREAT | os.O_EXCL, 0o644))
                    return version
                except FileExistsError:
                    version += 1

    def publish(self, name: str, artifact: bytes, meta: dict[str, Any], *,
                commit: Callable[[int], bool] | None = None) -> int:
        """Store a new immutable version of ``name`` and return its number.

        ``commit(version)``, if given, runs once the version is written and before it becomes
        visible; when it returns False the version is discarded and ``PublishWithdrawn`` raised.
        """
        model_dir = self._ensure_model_dir(name)
        artifact = bytes(artifact)
        version = self._allocate(model_dir)
        meta = {**meta, "model": name, "version": version,
                "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
                "artifact_bytes": len(artifact)}
        tmp = model_dir / tmp_name("tmp", version)
        tmp.mkdir()
        try:
            write_synced(tmp / "model.npz", artifact)
            write_synced(tmp / "meta.json", json.dumps(meta, indent=2, sort_keys=True).encode())
            fsync_path(tmp)
            if commit is not None and not commit(version):
                raise PublishWithdrawn(f"version {version} of model {name!r} was withdrawn")
            os.rename(tmp, model_dir / str(version))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_path(model_dir)
        return version

    def orphaned_publishes(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Versions fully written but never put in place because their publisher (same host)
        died between ``commit`` and the rename: ``(model, staged entry, meta)``."""
        found = []
        for model in os.scandir(self.models_dir):
            if not is_model_name(model.name) or not model.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(model.path):
                if not entry.name.startswith(".tmp-") or not entry.is_dir(follow_symlinks=False) \
                        or not is_stale(entry, float("inf")):
                    continue
                try:
                    meta = json.loads(read_nofollow(Path(entry.path) / "meta.json"))
                    artifact = read_nofollow(Path(entry.path) / "model.npz")
                except (OSError, ValueError):
                    continue  # died while writing: recover() removes it
                if hashlib.sha256(artifact).hexdigest() == meta.get("artifact_sha256"):
                    found.append((model.name, entry.name, meta))
        return found

    def adopt(self, name: str, staged: str, version: int) -> None:
        """Put an orphaned publish (see ``orphaned_publishes``) in place as ``version``."""
        model_dir = self._model_dir(name)
        os.rename(model_dir / staged, model_dir / str(parse_version(version)))
        fsync_path(model_dir)

    def delete_version(self, name: str, version: int) -> None:
        """Remove a version atomically; Conflict (409) while an alias points at it."""
        version = parse_version(version)
        model_dir = self._model_dir(name)
        with locked(model_dir, ALIAS_LOCK):
            holders = sorted(a for a, t in self._read_aliases(model_dir).items()
                             if version in versions_of(t))
            if holders:
                raise Conflict(f"version {version} of model {name!r} is aliased as "
                               f"{', '.join(holders)}; move or delete the alias first")
            trash = model_dir / tmp_name("del", version)
            try:
                os.rename(self._version_dir(name, version), trash)
            except FileNotFoundError:
                raise NotFound(f"version {version} of model {name!r} not found") from None
        fsync_path(model_dir)
        shutil.rmtree(trash, ignore_errors=True)

    # -- maintenance ---------------------------------------------------------------------------
    def recover(self, grace: float = 3600.0) -> list[str]:
        """Remove leftovers of crashed publishes and deletes; returns what it removed.

        A ``.tmp-*`` entry goes when its creator (pid, same host) is dead or it is older than
        ``grace`` seconds; ``.del-*`` dirs always go; allocation markers below the highest are
        pruned. Complete versions are never touched; safe to run concurrently with writers.
        """
        removed = []
        for model in os.scandir(self.models_dir):
            if not is_model_name(model.name) or not model.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(model.path):
                if entry.name.startswith(".del-") or (
                        entry.name.startswith(".tmp-") and is_stale(entry, grace)):
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)
                    removed.append(f"{model.name}/{entry.name}")
            alloc = Path(model.path) / ".alloc"
            if is_kind(alloc):
                with locked(Path(model.path), ALLOC_LOCK):
                    for number in sorted(version_markers(alloc))[:-1]:  # the highest one must stay
                        (alloc / str(number)).unlink(missing_ok=True)
        return removed

    def readable(self) -> tuple[bool, str]:
        """Probe (for /readyz): the models directory can be listed, so versions can be served."""
        try:
            with os.scandir(self.models_dir) as entries:
                next(entries, None)
        except OSError as e:
            return False, f"the model store cannot be read: {reason(e)}"
        return True, "ok"

    def writable(self) -> tuple[bool, str]:
        """Probe (for /readyz and metrics): create, fsync and remove a 64 KiB temp file in the
        store, so a full disk shows, not only a read-only one."""
        probe = self.models_dir / tmp_name("probe", "w")
        try:
            try:
                write_synced(probe, bytes(64 * 1024))
            finally:
                probe.unlink(missing_ok=True)
        except OSError as e:
            return False, f"the model store is not writable: {reason(e)}"
        return True, "ok"
