"""Canary routing: an alias that splits traffic between versions by integer weights.

A request with a routing key (``X-Routing-Key``: a user or session id) is hashed into one of
100 buckets, so the same key always lands on the same version and no per-key state is kept; a
request without one draws a bucket at random. Buckets are handed out in ascending version order,
so raising the newest version's weight keeps every key already on it there.

The routing key and the versions that served a request travel in context variables: the HTTP
edge sets the key and reads what served (response header, per-version latency), while every
protocol resolves through ``ModelStore``/``ModelCache`` without passing the key along.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

BUCKETS = 100  # weights are whole percentages

_routing_key: ContextVar[str | None] = ContextVar("nnserve_routing_key", default=None)
_served: ContextVar[tuple[str, int] | None] = ContextVar("nnserve_served", default=None)


class Split:
    """Versions with integer weights summing to ``BUCKETS``; immutable once built.

    Parameters
    ----------
    weights : mapping of version → weight
        Positive integers summing to 100 (zero weights are dropped); at least two versions.
    """

    __slots__ = ("weights", "_edges")
    weights: tuple[tuple[int, int], ...]
    _edges: tuple[tuple[int, int], ...]

    def __init__(self, weights: Mapping[int, int] | Iterable[tuple[int, int]]) -> None:
        items = weights.items() if isinstance(weights, Mapping) else weights
        kept = tuple(sorted((int(v), int(w)) for v, w in items if w))
        if len(kept) < 2 or sum(w for _, w in kept) != BUCKETS or any(w < 0 for _, w in kept):
            raise ValueError("a split needs two or more versions with weights summing to "
                             f"{BUCKETS}")
        edges, total = [], 0
        for version, weight in kept:
            total += weight
            edges.append((total, version))
        object.__setattr__(self, "weights", kept)
        object.__setattr__(self, "_edges", tuple(edges))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Split is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Split) and other.weights == self.weights

    def __hash__(self) -> int:
        return hash(self.weights)

    def __repr__(self) -> str:
        return f"Split({dict(self.weights)})"

    @property
    def versions(self) -> tuple[int, ...]:
        """The versions it routes to, ascending."""
        return tuple(v for v, _ in self.weights)

    def pick(self, routing_key: str | None = None) -> int:
        """The version for one request: by the key's bucket, else at random by weight."""
        bucket = random.randrange(BUCKETS) if routing_key is None else bucket_of(routing_key)
        for edge, version in self._edges:
            if bucket < edge:
                return version
        raise AssertionError("weights sum to BUCKETS")  # pragma: no cover

    def to_json(self) -> dict[str, dict[str, int]]:
        """``{"versions": {"6": 90, "7": 10}}``: how aliases.json and the API write it."""
        return {"versions": {str(v): w for v, w in self.weights}}


def bucket_of(routing_key: str) -> int:
    """The bucket (0..99) of a routing key: a stable hash, the same in every process."""
    digest = hashlib.blake2b(routing_key.encode("utf-8", "surrogatepass"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def set_routing_key(key: str | None) -> None:
    """The current request's routing key (None: route at random)."""
    _routing_key.set(key)
    _served.set(None)


def routing_key() -> str | None:
    """The routing key of the request being answered."""
    return _routing_key.get()


def mark_served(model: str, version: int) -> None:
    """Record the version that answered the current request (the one prediction path calls it)."""
    _served.set((model, version))


def served() -> tuple[str, int] | None:
    """``(model, version)`` that answered the current request, if a prediction did."""
    return _served.get()
