"""Alias moves, their history and rollback (transport-free).

A move names one version or weighted versions (a canary); every move is recorded with the
caller's key id (``service.aliases``). Gated moves (``require``) live in
``service.handlers.promotion``.
"""

from __future__ import annotations

from typing import Any

from service.aliases import ROLLBACK, Target, normalise, rollback_target, target_json
from service.errors import Conflict, NotFound
from service.names import parse_version, validate_alias, validate_model_name
from service.routing import Split
from service.store import ModelStore


def target_of(doc: dict[str, Any]) -> Target:
    """The target a checked request body names: ``version``, or ``versions`` with weights
    (string version numbers → integer weights summing to 100)."""
    if doc.get("versions") is not None:
        return normalise({parse_version(v): int(w) for v, w in doc["versions"].items()})
    return parse_version(doc["version"])


def answer(name: str, alias: str, target: Target | None) -> dict[str, Any]:
    """``{"model", "alias", "version"}``, or ``"versions"`` for a weighted alias."""
    if isinstance(target, Split):
        return {"model": name, "alias": alias, **target.to_json()}
    return {"model": name, "alias": alias, "version": target}


def move(store: ModelStore, name: str, alias: str, target: Target,
         key_id: str | None) -> dict[str, Any]:
    """Point ``alias`` at ``target`` (every version must exist) and record it."""
    validate_model_name(name)
    store.set_alias(name, validate_alias(alias), target, key_id=key_id)
    return answer(name, alias, target)


def history(store: ModelStore, name: str, alias: str) -> dict[str, Any]:
    """The alias's current target and its recorded moves, newest first. An alias that no
    longer exists still has its history; one never recorded nor existing is not found."""
    validate_model_name(name)
    alias = validate_alias(alias)
    entries = store.alias_history(name, alias)
    current = store.aliases(name).get(alias)
    if current is None and not entries:
        raise NotFound(f"alias {alias!r} of model {name!r} not found")
    return {"model": name, "alias": alias, "current": current, "history": entries[::-1]}


def rollback(store: ModelStore, name: str, alias: str, key_id: str | None) -> dict[str, Any]:
    """Move ``alias`` back to the target before its latest move not yet rolled back.

    Conflict (409) when there is no such move, when it created the alias, or when a version
    it pointed at has been deleted since.
    """
    validate_model_name(name)
    with store.alias_txn(name, alias) as txn:
        target, undone = rollback_target(txn.history(), txn.alias)
        if target is None:
            raise Conflict(f"move {undone} created alias {txn.alias!r}: there is no earlier "
                           "target to go back to (delete the alias instead)")
        try:
            entry = txn.move(target, key_id=key_id, reason=ROLLBACK, details={"undoes": undone})
        except NotFound as exc:
            raise Conflict(f"cannot roll back to {target_json(target)}: {exc.detail}") from None
    return {**answer(name, txn.alias, target), "history_entry": entry}
