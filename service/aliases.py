"""What an alias points at, and the record of every move.

An alias's target is a version number or a ``Split`` (weighted versions, a canary). In
``<model>/aliases.json`` a plain alias stays a number, as it always was; a split is
``{"versions": {"6": 90, "7": 10}}``. Every change is appended, under the model's alias lock, to
``<model>/aliases-history.jsonl``: old and new target, time, the key id of the caller (the part
of the API key before ``:``, never the secret), the reason (``manual``, ``promotion`` with the
comparison, ``rollback``) and a sequence number.

Rollback undoes moves like a stack: it returns the alias to the target before its latest move
that was not itself rolled back, so rolling back twice goes back two moves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.errors import Conflict
from service.routing import Split

Target = int | Split
HISTORY_FILE = "aliases-history.jsonl"
MANUAL, PROMOTION, ROLLBACK = "manual", "promotion", "rollback"


def parse_target(raw: Any) -> Target:
    """A target as aliases.json holds it (a number, or ``{"versions": {...}}``)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, dict) and isinstance(raw.get("versions"), dict):
        return normalise({int(v): int(w) for v, w in raw["versions"].items()})
    raise ValueError(f"not an alias target: {raw!r:.60}")


def normalise(weights: dict[int, int]) -> Target:
    """Weights as a target: zero weights dropped, one version at 100 a plain alias."""
    kept = {v: w for v, w in weights.items() if w}
    if len(kept) == 1 and sum(kept.values()) == 100:
        return next(iter(kept))
    return Split(kept)


def target_json(target: Target | None) -> int | dict[str, Any] | None:
    """A target as the API and aliases.json show it: a number, or ``{"versions": ...}``."""
    return target.to_json() if isinstance(target, Split) else target


def versions_of(target: Target | None) -> tuple[int, ...]:
    """The versions a target routes to."""
    if target is None:
        return ()
    return target.versions if isinstance(target, Split) else (target,)


def read_history(model_dir: Path) -> list[dict[str, Any]]:
    """Every recorded move of every alias of the model, oldest first."""
    try:
        fd = os.open(model_dir / HISTORY_FILE, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return []
    with os.fdopen(fd, "rb") as f:
        lines = f.read().splitlines()
    entries = []
    for line in lines:
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except ValueError:  # a line torn by a crash mid-append: the move did not complete
            continue
    return entries


def _append(model_dir: Path, entry: dict[str, Any]) -> None:
    fd = os.open(model_dir / HISTORY_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT |
                 os.O_NOFOLLOW, 0o644)
    try:  # the leading newline ends a line a crash may have torn; blank lines are skipped
        os.write(fd, b"\n" + json.dumps(entry, sort_keys=True).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def rollback_target(history: list[dict[str, Any]], alias: str) -> tuple[Target | None, int]:
    """Where a rollback of ``alias`` goes: ``(target, seq of the move it undoes)``.

    Conflict (409) when no move is left to undo.
    """
    stack: list[dict[str, Any]] = []
    for entry in history:
        if entry.get("alias") != alias:
            continue
        if entry.get("reason") == ROLLBACK:
            if stack:
                stack.pop()
        else:
            stack.append(entry)
    if not stack:
        raise Conflict(f"alias {alias!r} has no recorded move to roll back")
    last = stack[-1]
    old = last.get("old")
    return (None if old is None else parse_target(old)), int(last["seq"])


class AliasTxn:
    """One alias of one model while its alias lock is held: read the target, move it.

    Built by ``ModelStore.alias_txn``; ``write`` replaces aliases.json, ``check_version`` raises
    NotFound for a version that does not exist.
    """

    def __init__(self, model_dir: Path, name: str, alias: str, aliases: dict[str, Target],
                 write: Callable[[dict[str, Target]], None],
                 check_version: Callable[[int], object]) -> None:
        self.model_dir, self.name, self.alias = model_dir, name, alias
        self._aliases, self._write, self._check = aliases, write, check_version

    @property
    def current(self) -> Target | None:
        """The alias's target now (None: the alias does not exist)."""
        return self._aliases.get(self.alias)

    def history(self) -> list[dict[str, Any]]:
        """The model's history (every alias), oldest first."""
        return read_history(self.model_dir)

    def move(self, new: Target | None, *, key_id: str | None, reason: str = MANUAL,
             details: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Point the alias at ``new`` (None deletes it) and record the move; returns the
        history entry, or None when the alias already pointed there."""
        old = self.current
        if new == old:
            return None
        for version in versions_of(new):
            self._check(version)
        aliases = dict(self._aliases)
        if new is None:
            aliases.pop(self.alias, None)
        else:
            aliases[self.alias] = new
        self._write(aliases)
        self._aliases = aliases
        history = read_history(self.model_dir)
        entry: dict[str, Any] = {
            "seq": max((int(e.get("seq", 0)) for e in history), default=0) + 1,
            "alias": self.alias, "old": target_json(old), "new": target_json(new),
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "key_id": key_id, "reason": reason}
        if details:
            entry.update(details)
        _append(self.model_dir, entry)
        return entry
