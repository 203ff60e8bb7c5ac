"""Evaluation-gated alias moves: a candidate replaces an alias's version only if it scores
better, by at least ``min_delta``, on the same labelled rows.

``gate`` compares two models and decides; ``publish_promoted`` is the training job's side
(``POST /train`` with ``promote``): the candidate and the alias's current version are evaluated
on the candidate's held-out test rows, and the decision, the publish and the move happen under
the model's alias lock (``ModelStore.alias_txn``), so every other move of the alias waits and
none is lost. The comparison itself runs before the lock is taken; if the alias moved meanwhile
it is compared again against the new target. The gated ``PUT`` of an alias is in
``service.handlers.promotion``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from models import MLPClassifier
from models.compare import align, compare
from models.tabular import Table
from service.aliases import PROMOTION, Target
from service.errors import ServiceError, field_error
from service.jobs.evaluation import HeldOut, take
from service.names import validate_alias
from service.routing import Split
from service.store import ModelStore

log = logging.getLogger("nnserve.jobs")
ATTEMPTS = 3  # comparisons made outside the lock before the last one is made inside it
SEED = 0  # the bootstrap's seed when the job has none


def check_promote(promote: Any, test_split: float) -> dict[str, Any] | None:
    """``promote`` of a training request, checked (the schema checked the fields' types)."""
    if promote is None:
        return None
    if not isinstance(promote, dict) or "alias" not in promote:
        raise field_error("promote", "must be an object with an alias")
    try:
        validate_alias(promote["alias"])
    except ServiceError:
        raise field_error("promote.alias", "must be an alias name") from None
    if test_split <= 0:
        raise field_error("promote", "compares on the held-out test rows: give "
                                     "params.test_split > 0")
    return {"alias": promote["alias"], "metric": promote.get("metric", "accuracy"),
            "min_delta": float(promote.get("min_delta", 0.0)),
            "confident": bool(promote.get("confident", False))}


def inputs_of(meta: dict[str, Any]) -> Any:
    """What a version takes as input, comparable between versions."""
    schema = meta.get("input_schema")
    if schema is not None:
        return ["tabular", [[c.get("name"), c.get("type")] for c in schema]]
    return ["numeric", meta.get("n_features"), meta.get("feature_names")]


def probabilities(clf: MLPClassifier, X: np.ndarray | Table,
                  feature_names: list[str] | None) -> np.ndarray:
    """``clf``'s probabilities of labelled rows (a matrix or a ``Table``); ValueError when the
    rows do not fit it."""
    if clf.encoder_ is not None and not isinstance(X, Table):
        if feature_names is None:
            raise ValueError("the model takes named columns; give the data's feature_names")
        X = Table(list(feature_names), [X[:, j].tolist() for j in range(X.shape[1])])
    if clf.encoder_ is None and isinstance(X, Table):
        X = np.column_stack([np.asarray(c, dtype=np.float64) for c in X.columns])
    return np.asarray(clf.predict_proba(X), dtype=np.float64)


def gate(candidate: tuple[MLPClassifier, dict[str, Any]],
         current: tuple[MLPClassifier, dict[str, Any]], current_version: int,
         X: np.ndarray | Table, y: np.ndarray, feature_names: list[str] | None,
         rule: dict[str, Any], seed: int) -> dict[str, Any]:
    """Compare the two ``(model, meta)`` on ``X``, ``y`` and decide by ``rule`` (``metric``,
    ``min_delta``, ``confident``): the record of what was compared, with ``moved`` and, when
    it does not move, ``reason``."""
    record: dict[str, Any] = {**_base(rule), "current_version": current_version,
                              "moved": False}
    if len(y) == 0:
        record["reason"] = "there are no rows to compare on (no held-out test rows)"
        return record
    if inputs_of(candidate[1]) != inputs_of(current[1]):
        record["reason"] = (f"version {current_version} takes other input features than the "
                            "candidate: they cannot be compared on the same rows")
        return record
    try:
        a, b = (probabilities(m, X, feature_names) for m, _ in (candidate, current))
        union = sorted(set(candidate[0].classes_.tolist()) | set(current[0].classes_.tolist()))
        a = align(a, candidate[0].classes_.tolist(), union)
        b = align(b, current[0].classes_.tolist(), union)
        result = compare(y, a, b, union, rule["metric"], np.random.default_rng(seed))
    except ValueError as exc:
        record["reason"] = f"the versions could not be compared on these rows: {exc}"
        return record
    record.update(result)
    improvement, interval = result["improvement"], result["interval"]
    if improvement is None:
        record["reason"] = f"{rule['metric']} is undefined on these rows"
    elif improvement < rule["min_delta"]:
        record["reason"] = (f"{rule['metric']} improves by {improvement:.6g}, less than "
                            f"min_delta {rule['min_delta']:g}")
    elif rule["confident"] and (interval is None or interval[0] < rule["min_delta"]):
        low = "undefined" if interval is None else f"{interval[0]:.6g}"
        record["reason"] = (f"the 95% interval's lower bound ({low}) does not reach min_delta "
                            f"{rule['min_delta']:g}")
    else:
        record["moved"] = True
    return record


def _base(rule: dict[str, Any]) -> dict[str, Any]:
    return {"alias": rule.get("alias"), "metric": rule["metric"],
            "min_delta": rule["min_delta"], "confident": rule["confident"],
            "data": rule.get("data")}


def load(store: ModelStore, name: str, version: int) -> tuple[MLPClassifier, dict[str, Any]]:
    """A stored version as ``(model, meta)``."""
    return (MLPClassifier.load(io.BytesIO(store.read_artifact(name, version))),
            store.meta(name, version))


def decide(store: ModelStore, name: str, current: Target | None,
           candidate: tuple[MLPClassifier, dict[str, Any]], X: np.ndarray | Table,
           y: np.ndarray, feature_names: list[str] | None, rule: dict[str, Any],
           seed: int) -> dict[str, Any]:
    """The gate's record against whatever the alias points at now (``current``)."""
    base = _base(rule)
    if current is None:
        return {**base, "current_version": None, "moved": True,
                "reason": "the alias did not exist: created"}
    if isinstance(current, Split):
        return {**base, "current_version": None, "moved": False,
                "reason": f"the alias splits traffic {current.to_json()['versions']} (a canary "
                          "runs): finish or roll back the canary first"}
    try:
        parent = load(store, name, current)
    except ServiceError as exc:
        return {**base, "current_version": current, "moved": False,
                "reason": f"version {current} cannot be read: {exc.detail}"}
    return gate(candidate, parent, current, X, y, feature_names, rule, seed)


def _current(store: ModelStore, name: str, alias: str) -> Target | None:
    try:
        return store.targets(name).get(alias)
    except ServiceError:  # the model's first version
        return None


def publish_promoted(store: ModelStore, name: str, rule: dict[str, Any], key_id: str | None,
                     candidate: tuple[MLPClassifier, dict[str, Any]], X: np.ndarray | Table,
                     y: np.ndarray, feature_names: list[str] | None, seed: int,
                     publish: Callable[[dict[str, Any], dict[str, Any]], int]
                     ) -> tuple[int, dict[str, Any]]:
    """Compare, publish the candidate (``publish(meta, job_fields)`` returns its version) and
    move the alias if it won, as one step against every other move of the alias.

    ``candidate``'s meta gets the record under ``promotion``; so does the job (``job_fields``).
    """
    meta = candidate[1]
    for attempt in range(ATTEMPTS + 1):
        seen = _current(store, name, rule["alias"])
        record = None
        if attempt < ATTEMPTS:
            record = decide(store, name, seen, candidate, X, y, feature_names, rule, seed)
        with store.alias_txn(name, rule["alias"], create=True) as txn:
            if record is None:  # the alias kept moving: decide while holding the lock
                seen = txn.current
                record = decide(store, name, seen, candidate, X, y, feature_names, rule, seed)
            elif txn.current != seen:
                log.info("alias %s of %s moved while comparing; comparing again",
                         rule["alias"], name)
                continue
            version = publish({**meta, "promotion": record}, {"promotion": record})
            if record["moved"]:
                txn.move(version, key_id=key_id, reason=PROMOTION,
                         details={"promotion": {k: v for k, v in record.items()
                                                if k not in ("alias",)}})
            return version, record
    raise AssertionError("the last attempt decides under the lock")  # pragma: no cover


def publish_for_job(store: ModelStore, job: dict[str, Any], clf: MLPClassifier,
                    held_out: HeldOut, meta: dict[str, Any],
                    publish: Callable[[dict[str, Any], dict[str, Any]], int]) -> int:
    """A training job's publish with ``promote``: gated on its held-out test rows."""
    rows = held_out.test_rows
    data = held_out.data
    rule = job["promote"]
    rule = {**rule, "data": "the candidate's held-out test rows"}
    version, record = publish_promoted(
        store, job["model"], rule, job.get("promote_key_id"), (clf, meta),
        take(data.X, rows), data.y[rows], data.feature_names,
        int(job["params"].get("seed", SEED)), publish)
    log.info("job %s: alias %s %s (%s)", job["job_id"], rule["alias"],
             "moved" if record["moved"] else "kept", record.get("reason", "better"))
    return version
