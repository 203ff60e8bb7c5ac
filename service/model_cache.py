"""Per-process LRU of loaded model versions in front of the ``ModelStore``.

Resolution of ``(name, ref)`` to a version is memoised together with the store's
``freshness_token(name)`` (one ``stat`` of the model dir): a ``get`` costs that one stat and
re-resolves only when the token changed, so a new version, a moved alias or a deleted version is
noticed without a restart. A token younger than ``racy_window`` is not trusted (filesystem clocks
are coarse: a change in the same tick may leave the mtime as it was), like git's "racily clean"
index entries; gets then re-resolve until the token has aged.

Loading follows TF Serving's "load new before unloading old": a model is loaded outside the lock
and inserted only after a successful load, so a corrupt artifact raises and leaves the models
already cached serving.
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from service.errors import NotFound
from service.names import is_version_ref, parse_version, validate_alias, validate_model_name
from service.routing import Split, routing_key
from service.store import ArtifactCorrupt, ModelStore


class Classifier(Protocol):
    """What serving needs of a loaded model (``models.MLPClassifier`` is one)."""

    classes_: np.ndarray
    n_features_in_: int
    feature_names_: list[str] | None

    def predict_proba(self, X: np.ndarray, check_input: bool = True) -> np.ndarray: ...

    def encode(self, X: Any) -> tuple[np.ndarray, list[dict[str, Any]]]: ...

    def predict_proba_encoded(self, Z: np.ndarray) -> np.ndarray: ...


Loader = Callable[[bytes], Classifier]
Ref = int | str


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model version with its ``meta.json``."""

    name: str
    version: int
    model: Classifier
    meta: dict[str, Any]

    @cached_property
    def classes(self) -> list[Any]:
        """``model.classes_`` as a list of Python values (made once, answered with every
        prediction)."""
        return self.model.classes_.tolist()


def load_mlp(data: bytes) -> Classifier:
    """Default loader: ``models.MLPClassifier.load`` on the artifact's bytes."""
    from models import MLPClassifier

    return MLPClassifier.load(io.BytesIO(data))


def _normalise(ref: int | str | None) -> Ref:
    if ref is None or ref == "latest":
        return "latest"
    return parse_version(ref) if is_version_ref(ref) else validate_alias(ref)


class ModelCache:
    """Bounded LRU of ``(name, version) -> LoadedModel``; thread-safe.

    Parameters
    ----------
    store : the registry to load from.
    capacity : loaded versions kept (least recently used ones are dropped first).
    loader : ``bytes -> model``; a ``ValueError`` from it (``models.ArtifactError`` is one)
        becomes ``ArtifactCorrupt``. Default: ``MLPClassifier.load``.
    racy_window : seconds during which a fresh freshness token is not trusted.
    retry_corrupt : seconds a version whose artifact failed to load is answered from memory
        (ArtifactCorrupt again) before it is read again, unless the model dir changes first.
    """

    def __init__(self, store: ModelStore, capacity: int = 16, loader: Loader | None = None,
                 racy_window: float = 1.0, retry_corrupt: float = 5.0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.store = store
        self.capacity = capacity
        self._loader = loader or load_mlp
        self._racy_ns = int(racy_window * 1e9)
        self._lock = threading.Lock()
        self._models: OrderedDict[tuple[str, int], LoadedModel] = OrderedDict()
        # → (token, version or Split: a weighted alias is routed on every get)
        self._resolved: dict[tuple[str, Ref], tuple[int, int | Split]] = {}
        self._tokens: dict[str, int] = {}  # name → token its cached versions were checked at
        # (name, ref) exactly as asked → (token, (name, version)), for trusted tokens only
        self._answers: dict[tuple[str, Ref | None], tuple[int, tuple[str, int] | Split]] = {}
        # (name, version) whose artifact failed → (token, retry after (monotonic s), detail)
        self._failed: dict[tuple[str, int], tuple[int, float, str]] = {}
        self._retry_corrupt = retry_corrupt
        self._loading: dict[tuple[str, int], threading.Lock] = {}

    def loaded_count(self) -> int:
        """Number of model versions currently loaded (for metrics)."""
        with self._lock:
            return len(self._models)

    def get(self, name: str, ref: int | str | None = None) -> LoadedModel:
        """The loaded model for ``ref`` (None/"latest", a version, or an alias) of ``name``."""
        answer = self._answers.get((name, ref))  # the hot path: one stat, one dict hit
        if answer is not None and self.store.freshness_token(name) == answer[0]:
            key = answer[1]
            if isinstance(key, Split):
                key = (name, key.pick(routing_key()))
            with self._lock:
                hit = self._models.get(key)
                if hit is not None:
                    self._models.move_to_end(key)
                    return hit
        return self._get(name, ref)

    def _get(self, asked_name: str, asked_ref: int | str | None) -> LoadedModel:
        name, ref = validate_model_name(asked_name), _normalise(asked_ref)
        token = self.store.freshness_token(name)
        if token is None:
            raise NotFound(f"model {name!r} not found")
        # Trusted only if older than the window when we start reading what it stands for.
        trusted = time.time_ns() - token >= self._racy_ns
        with self._lock:
            token_seen = self._tokens.get(name) == token
            memo = self._resolved.get((name, ref))
        if not token_seen:
            self._sweep(name, token, trusted)
        if memo and memo[0] == token:
            target = memo[1]
        else:
            target = self.store.target(name, ref)
            if trusted:
                with self._lock:
                    self._resolved[(name, ref)] = (token, target)
        if isinstance(target, Split):
            key = (name, target.pick(routing_key()))
        else:
            key = (name, target)
        if trusted:  # only validated names and refs that resolved get here
            self._answers[(asked_name, asked_ref)] = (
                token, target if isinstance(target, Split) else key)
        with self._lock:
            hit = self._models.get(key)
            if hit is not None:
                self._models.move_to_end(key)
                return hit
        failed = self._failed.get(key)
        if failed is not None and failed[0] == token and time.monotonic() < failed[1]:
            raise ArtifactCorrupt(failed[2])  # not re-read and re-hashed on every request
        try:
            return self._load(key)
        except ArtifactCorrupt as exc:
            self._failed[key] = (token, time.monotonic() + self._retry_corrupt, exc.detail)
            raise

    def _sweep(self, name: str, token: int, trusted: bool) -> None:
        """The model dir changed: forget stale resolutions, evict versions that are gone."""
        try:
            live = set(self.store.versions(name))
        except NotFound:
            live = set()
        with self._lock:
            for key in [k for k in self._models if k[0] == name and k[1] not in live]:
                del self._models[key]
            for ref in [k for k, (t, _) in self._resolved.items() if k[0] == name and t != token]:
                del self._resolved[ref]
            if trusted:
                self._tokens[name] = token

    def _load(self, key: tuple[str, int]) -> LoadedModel:
        """Load one version (once, even when several threads miss it at the same time)."""
        with self._lock:
            gate = self._loading.setdefault(key, threading.Lock())
        try:
            with gate:
                with self._lock:
                    hit = self._models.get(key)
                if hit is not None:
                    return hit
                entry = self._read(*key)
                with self._lock:
                    self._models[key] = entry
                    while len(self._models) > self.capacity:
                        self._models.popitem(last=False)
                return entry
        finally:
            with self._lock:
                if self._loading.get(key) is gate:
                    del self._loading[key]

    def _read(self, name: str, version: int) -> LoadedModel:
        meta = self.store.meta(name, version)
        data = self.store.read_artifact(name, version)
        try:
            model = self._loader(data)
        except ValueError as e:
            raise ArtifactCorrupt(f"artifact of {name} v{version} could not be loaded: {e}") from e
        return LoadedModel(name, version, model, meta)
