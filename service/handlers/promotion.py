"""``PUT /models/<name>/aliases/<alias>`` with ``require``: move the alias only if the version
beats the alias's current one on the labelled ``data`` of the request (transport-free).

Both versions are evaluated on the same rows (``service.jobs.promotion.gate``); a version that
loses gets 409 with both scores in the problem document. The comparison runs outside the alias
lock and the move is a compare-and-set inside it: if another move came first, this one is a 409
too (compare again), so a racing move is never lost.
"""

from __future__ import annotations

from typing import Any

from service.aliases import PROMOTION
from service.config import Settings
from service.errors import Conflict
from service.handlers.aliases import answer
from service.jobs import validation
from service.jobs.promotion import decide, load
from service.names import parse_version, validate_alias, validate_model_name
from service.store import ModelStore

SEED = 0  # the bootstrap of a gated PUT is reproducible


class PromotionRefused(Conflict):
    """409: the candidate did not beat the alias's version; the problem document carries the
    comparison (both scores, the improvement and its interval)."""

    slug = "promotion-refused"

    def __init__(self, detail: str, comparison: dict[str, Any]) -> None:
        super().__init__(detail)
        self.comparison = comparison

    def to_problem(self) -> dict[str, object]:
        body = super().to_problem()
        body.update(candidate_score=self.comparison.get("candidate"),
                    current_score=self.comparison.get("current"), comparison=self.comparison)
        return body


def gated_move(store: ModelStore, settings: Settings, name: str, alias: str,
               version: int, require: dict[str, Any], key_id: str | None) -> dict[str, Any]:
    """Point ``alias`` at ``version`` if it passes ``require`` (``metric``, ``min_delta``,
    ``confident``, ``data``: a labelled data set as ``/train`` takes it)."""
    validate_model_name(name)
    alias, version = validate_alias(alias), parse_version(version)
    doc = require["data"]
    X = doc["records"] if doc.get("records") is not None else doc["features"]
    data = validation.check_data(X, doc.get("labels"), doc.get("feature_names"), settings, {},
                                 doc.get("label_column"))
    candidate = load(store, name, version)
    rule = {"alias": alias, "metric": require["metric"], "min_delta": require["min_delta"],
            "confident": require["confident"], "data": "the request's data"}
    current = store.targets(name).get(alias)
    record = decide(store, name, current, candidate, data.X, data.y, data.feature_names, rule,
                    SEED)
    if not record["moved"]:
        raise PromotionRefused(f"version {version} does not replace {alias!r}: "
                               f"{record['reason']}", record)
    with store.alias_txn(name, alias) as txn:
        if txn.current != current:
            raise Conflict(f"alias {alias!r} moved while the versions were compared; compare "
                           "again")
        txn.move(version, key_id=key_id, reason=PROMOTION,
                 details={"promotion": {k: v for k, v in record.items() if k != "alias"}})
    return {**answer(name, alias, version), "promotion": record}
