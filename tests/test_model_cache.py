"""ModelCache: one stat per get; new/deleted versions and moved aliases noticed; LRU; corruption."""

from __future__ import annotations

import io
import os
import threading
import time
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from service.errors import NotFound, Unprocessable
from service.model_cache import LoadedModel, ModelCache
from service.store import ArtifactCorrupt, ModelStore


class FakeLoader:
    """Counts loads; ``bad…`` artifacts raise ValueError as ``models.ArtifactError`` would."""

    def __init__(self, delay: float = 0.0) -> None:
        self.loads: list[bytes] = []
        self.delay = delay

    def __call__(self, data: bytes) -> dict[str, bytes]:
        time.sleep(self.delay)
        self.loads.append(data)
        if data.startswith(b"bad"):
            raise ValueError("not an MLPClassifier artifact")
        return {"weights": data}


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "store")


@pytest.fixture
def loader() -> FakeLoader:
    return FakeLoader()


@pytest.fixture
def cache(store: ModelStore, loader: FakeLoader) -> ModelCache:
    return ModelCache(store, capacity=4, loader=loader)


def age(store: ModelStore, name: str) -> None:
    """Back-date the model dir so its freshness token is older than the racy window."""
    past = time.time_ns() - 10**10
    os.utime(store.models_dir / name, ns=(past, past))


def test_loads_once_and_returns_a_frozen_loaded_model(
        store: ModelStore, cache: ModelCache, loader: FakeLoader) -> None:
    store.publish("iris", b"v1", {"accuracy": 0.9})
    first = cache.get("iris")
    assert isinstance(first, LoadedModel)
    assert (first.name, first.version, first.model) == ("iris", 1, {"weights": b"v1"})
    assert first.meta["accuracy"] == 0.9 and first.meta["version"] == 1
    assert cache.get("iris", "latest") is first
    assert cache.get("iris", 1) is first
    assert cache.get("iris", "1") is first
    assert loader.loads == [b"v1"] and cache.loaded_count() == 1
    with pytest.raises(FrozenInstanceError):
        first.version = 2  # type: ignore[misc]


def test_notices_a_new_version_without_restart(
        store: ModelStore, cache: ModelCache) -> None:
    store.publish("iris", b"v1", {})
    assert cache.get("iris").version == 1
    store.publish("iris", b"v2", {})
    assert cache.get("iris").version == 2
    assert cache.get("iris", 1).model == {"weights": b"v1"}  # the old one still serves
    assert cache.loaded_count() == 2


def test_notices_a_moved_alias(store: ModelStore, cache: ModelCache) -> None:
    for data in (b"v1", b"v2"):
        store.publish("iris", data, {})
    store.set_alias("iris", "prod", 1)
    assert cache.get("iris", "prod").version == 1
    store.set_alias("iris", "prod", 2)
    assert cache.get("iris", "prod").version == 2
    store.delete_alias("iris", "prod")
    with pytest.raises(NotFound, match="alias 'prod'"):
        cache.get("iris", "prod")


def test_notices_a_deleted_version_and_evicts_it(store: ModelStore, cache: ModelCache) -> None:
    for data in (b"v1", b"v2"):
        store.publish("iris", data, {})
    assert cache.get("iris").version == 2
    assert cache.get("iris", 1).version == 1
    store.delete_version("iris", 2)
    assert cache.get("iris").version == 1
    assert cache.loaded_count() == 1
    with pytest.raises(NotFound, match="version 2"):
        cache.get("iris", 2)
    store.delete_version("iris", 1)
    with pytest.raises(NotFound, match="model 'iris'"):
        cache.get("iris")
    assert cache.loaded_count() == 0


def test_notices_changes_within_one_filesystem_clock_tick(
        store: ModelStore, cache: ModelCache) -> None:
    """A coarse mtime may not move on a change right after a get: young tokens are not trusted."""
    store.publish("iris", b"v1", {})
    mdir = store.models_dir / "iris"
    assert cache.get("iris").version == 1
    st = os.stat(mdir)
    store.publish("iris", b"v2", {})
    os.utime(mdir, ns=(st.st_atime_ns, st.st_mtime_ns))  # same token as before the publish
    assert cache.get("iris").version == 2


def test_per_get_work_is_one_stat(
        store: ModelStore, cache: ModelCache, monkeypatch: pytest.MonkeyPatch) -> None:
    store.publish("iris", b"v1", {})
    store.set_alias("iris", "prod", 1)
    age(store, "iris")
    for ref in (None, 1, "prod"):
        cache.get("iris", ref)  # resolve once under an old enough token
    calls = {"token": 0, "stat": 0, "other": 0}
    real_token, real_stat = store.freshness_token, os.stat

    def token(name: str) -> int | None:
        calls["token"] += 1
        return real_token(name)

    def counting_stat(*args, **kwargs):
        calls["stat"] += 1
        return real_stat(*args, **kwargs)

    def forbidden(*args, **kwargs):
        calls["other"] += 1
        raise AssertionError("filesystem access beyond the one stat")

    monkeypatch.setattr(store, "freshness_token", token)
    monkeypatch.setattr(os, "stat", counting_stat)
    for fn in ("lstat", "scandir", "listdir", "open"):
        monkeypatch.setattr(os, fn, forbidden)
    monkeypatch.setattr(store, "resolve", forbidden)
    for _ in range(10):
        for ref in (None, 1, "prod"):
            assert cache.get("iris", ref).version == 1
    assert calls == {"token": 30, "stat": 30, "other": 0}


def test_lru_is_bounded(store: ModelStore, loader: FakeLoader) -> None:
    cache = ModelCache(store, capacity=2, loader=loader)
    for data in (b"v1", b"v2", b"v3"):
        store.publish("iris", data, {})
    cache.get("iris", 1)
    cache.get("iris", 2)
    cache.get("iris", 1)  # 2 is now least recently used
    cache.get("iris", 3)
    assert cache.loaded_count() == 2
    assert loader.loads == [b"v1", b"v2", b"v3"]
    cache.get("iris", 1)
    cache.get("iris", 2)  # reloaded
    assert loader.loads == [b"v1", b"v2", b"v3", b"v2"]
    with pytest.raises(ValueError):
        ModelCache(store, capacity=0)


def test_corrupt_new_version_raises_and_old_one_keeps_serving(
        store: ModelStore, cache: ModelCache, loader: FakeLoader) -> None:
    store.publish("iris", b"v1", {})
    old = cache.get("iris")
    store.publish("iris", b"v2", {})
    store.artifact_path("iris", 2).write_bytes(b"v3")  # same size, other bytes
    with pytest.raises(ArtifactCorrupt, match="iris v2 failed its sha256 check") as err:
        cache.get("iris")
    assert err.value.status == 503
    assert cache.get("iris", 1) is old
    assert cache.loaded_count() == 1 and loader.loads == [b"v1"]


def test_a_corrupt_artifact_is_not_reread_on_every_request(
        store: ModelStore, loader: FakeLoader, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ModelCache(store, loader=loader, retry_corrupt=60.0)
    store.publish("iris", b"v1", {})
    store.artifact_path("iris", 1).write_bytes(b"xx")
    age(store, "iris")
    reads = []
    real_read = store.read_artifact
    monkeypatch.setattr(store, "read_artifact", lambda *a: reads.append(a) or real_read(*a))
    for _ in range(5):
        with pytest.raises(ArtifactCorrupt, match="iris v1"):
            cache.get("iris")
    assert len(reads) == 1
    store.publish("iris", b"v2", {})  # the model dir changed: look again
    assert cache.get("iris").version == 2
    with pytest.raises(ArtifactCorrupt):
        cache.get("iris", 1)
    assert len(reads) == 3


def test_loader_error_becomes_artifact_corrupt(
        store: ModelStore, cache: ModelCache) -> None:
    store.publish("iris", b"v1", {})
    old = cache.get("iris")
    store.publish("iris", b"bad artifact", {})  # passes sha256, fails to load
    with pytest.raises(ArtifactCorrupt, match="iris v2 could not be loaded"):
        cache.get("iris")
    assert cache.get("iris", 1) is old and cache.loaded_count() == 1


def test_concurrent_misses_load_once(store: ModelStore) -> None:
    loader = FakeLoader(delay=0.2)
    cache = ModelCache(store, loader=loader)
    store.publish("iris", b"v1", {})
    results: list[LoadedModel] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("iris")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert loader.loads == [b"v1"]


def test_invalid_refs_are_422_and_unknown_models_404(cache: ModelCache) -> None:
    for name, ref, field in (("../x", None, "model"), ("iris", "../x", "alias"),
                             ("iris", 0, "version")):
        with pytest.raises(Unprocessable) as err:
            cache.get(name, ref)
        assert list(err.value.errors) == [field]
    with pytest.raises(NotFound, match="model 'iris'"):
        cache.get("iris")


def test_real_mlp_round_trip_through_store_and_default_loader(store: ModelStore) -> None:
    import numpy as np

    from models import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.where(X[:, 0] > 0, "pos", "neg")
    clf = MLPClassifier(hidden_layers=(4,), epochs=3, seed=0).fit(X, y)
    buf = io.BytesIO()
    clf.save(buf)
    store.publish("real", buf.getvalue(), {"classes": clf.classes_.tolist()})
    store.publish("real", b"valid sha256, not an npz", {})
    cache = ModelCache(store)  # default loader: MLPClassifier.load
    loaded = cache.get("real", 1)
    np.testing.assert_allclose(loaded.model.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
    assert loaded.model.predict(X).tolist() == clf.predict(X).tolist()
    with pytest.raises(ArtifactCorrupt, match="real v2 could not be loaded"):
        cache.get("real")  # models.ArtifactError → 503
    assert cache.get("real", 1) is loaded
