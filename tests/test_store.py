"""ModelStore: layout, atomic publish across processes, crash recovery, names, symlinks, aliases."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

import service.store as store_mod
import service.store_files as store_files
from service.errors import Conflict, NotFound, ServiceError, Unprocessable
from service.store import (
    ArtifactCorrupt,
    ModelStore,
    parse_version,
    validate_alias,
    validate_model_name,
)

CTX = multiprocessing.get_context("spawn")
ORIGIN = store_files.ORIGIN


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "store")


def publish_n(store: ModelStore, name: str, n: int) -> list[int]:
    return [store.publish(name, f"artifact {i}".encode(), {"i": i}) for i in range(n)]


def dead_pid() -> int:
    proc = CTX.Process(target=os._exit, args=(0,))
    proc.start()
    proc.join()
    return proc.pid


# -- layout -------------------------------------------------------------------------------------
def test_publish_writes_tf_serving_layout_and_meta(store: ModelStore) -> None:
    assert store.publish("iris", b"weights-1", {"accuracy": 0.9}) == 1
    assert store.publish("iris", b"weights-22", {"accuracy": 0.95}) == 2
    vdir = store.root / "models" / "iris" / "2"
    assert sorted(p.name for p in vdir.iterdir()) == ["meta.json", "model.npz"]
    assert (vdir / "model.npz").read_bytes() == b"weights-22"
    meta = json.loads((vdir / "meta.json").read_text())
    assert meta == store.meta("iris", 2)
    assert meta["accuracy"] == 0.95 and meta["model"] == "iris" and meta["version"] == 2
    assert meta["artifact_sha256"] == hashlib.sha256(b"weights-22").hexdigest()
    assert meta["artifact_bytes"] == 10
    assert datetime.fromisoformat(meta["created_at"]).utcoffset().total_seconds() == 0
    assert store.read_artifact("iris", 2) == b"weights-22"
    assert store.artifact_path("iris", 1) == store.root / "models/iris/1/model.npz"
    store.set_alias("iris", "prod", 1)
    assert json.loads((store.root / "models/iris/aliases.json").read_text()) == {"prod": 1}
    assert store.summary("iris") == {"name": "iris", "versions": [1, 2],
                                     "aliases": {"prod": 1}, "latest": 2}


def test_list_models_only_with_versions(store: ModelStore) -> None:
    publish_n(store, "b-model", 1)
    publish_n(store, "a.model", 2)
    (store.models_dir / "empty").mkdir()
    assert store.list_models() == ["a.model", "b-model"]
    store.delete_version("b-model", 1)
    assert store.list_models() == ["a.model"]


# -- publish across processes -------------------------------------------------------------------
def _recover_until(store: ModelStore, stop: threading.Event) -> None:
    while not stop.wait(0.002):
        store.recover()


def _publisher(root: Path, n: int, out: multiprocessing.Queue) -> None:
    store = ModelStore(root)
    out.put([store.publish("iris", os.urandom(64), {"pid": os.getpid()}) for _ in range(n)])


def test_concurrent_publish_from_processes_allocates_distinct_versions(store: ModelStore) -> None:
    out = CTX.Queue()
    procs = [CTX.Process(target=_publisher, args=(store.root, 5, out)) for _ in range(4)]
    for p in procs:
        p.start()
    stop = threading.Event()
    recoverer = threading.Thread(target=_recover_until, args=(store, stop))  # prunes markers
    recoverer.start()
    try:
        got = [v for _ in procs for v in out.get(timeout=20)]
    finally:
        stop.set()
        recoverer.join()
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    assert sorted(got) == list(range(1, 21))
    assert store.versions("iris") == list(range(1, 21))
    for v in (1, 7, 20):
        assert store.meta("iris", v)["version"] == v
        store.read_artifact("iris", v)


def test_marker_pruning_cannot_hand_out_a_number_twice(
        store: ModelStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """recover() prunes allocation markers; a publisher with a stale scan must not reuse one."""
    publish_n(store, "iris", 1)
    mdir = store.models_dir / "iris"
    others: list[int] = []

    def interfere() -> None:  # two publishes in flight, then recover() prunes the lower marker
        others.extend([store._allocate(mdir), store._allocate(mdir)])
        store.recover()

    real_markers = store_mod.version_markers
    threads: list[threading.Thread] = []

    def markers_then_interfere(alloc: Path) -> list[int]:
        found = real_markers(alloc)
        if not threads:  # only in our own scan: the others run while it is stale
            threads.append(threading.Thread(target=interfere))
            threads[0].start()
            threads[0].join(0.5)  # they block on the allocation lock, as they should
        return found

    monkeypatch.setattr(store_mod, "version_markers", markers_then_interfere)
    mine = store._allocate(mdir)
    threads[0].join(5)
    assert sorted([mine, *others]) == [2, 3, 4]


# -- crashes ------------------------------------------------------------------------------------
def test_crashed_publish_is_invisible_recovered_and_its_number_not_reused(
        store: ModelStore) -> None:
    publish_n(store, "iris", 2)
    mdir = store.models_dir / "iris"
    # what a publish killed before its rename leaves: allocation marker + half-written temp dir
    (mdir / ".alloc" / "3").touch()
    crashed = mdir / f".tmp-3-{dead_pid()}-0badf00d-{ORIGIN}"
    crashed.mkdir()
    (crashed / "model.npz").write_bytes(b"half")
    # a publish in progress in this process, and one from another host or container: kept
    live = mdir / f".tmp-9-{os.getpid()}-00000000-{ORIGIN}"
    other = mdir / ".tmp-10-1-00000000-otherhost"
    old_other = mdir / ".tmp-11-1-00000000-otherhost"
    for d in (live, other, old_other):
        d.mkdir()
    past = time.time() - 7200
    os.utime(old_other, (past, past))
    trash = mdir / f".del-1-{os.getpid()}-00000000-{ORIGIN}"  # an interrupted delete
    trash.mkdir()

    assert store.versions("iris") == [1, 2]
    assert store.latest("iris") == 2
    removed = store.recover()
    assert sorted(removed) == sorted(f"iris/{d.name}" for d in (crashed, old_other, trash))
    assert live.exists() and other.exists() and not crashed.exists()
    assert store.versions("iris") == [1, 2]
    assert store.publish("iris", b"x", {}) == 4
    assert store.recover() == []
    assert store.versions("iris") == [1, 2, 4]


def _slow_publisher(root: Path, ready) -> None:
    original = store_mod.write_synced

    def write_then_hang(path: Path, data: bytes) -> None:
        original(path, data)
        if path.name == "model.npz":
            ready.set()
            time.sleep(60)

    store_mod.write_synced = write_then_hang
    ModelStore(root).publish("iris", b"y" * 4096, {})


def test_publisher_killed_mid_publish_leaves_store_consistent(store: ModelStore) -> None:
    publish_n(store, "iris", 1)
    ready = CTX.Event()
    child = CTX.Process(target=_slow_publisher, args=(store.root, ready))
    child.start()
    assert ready.wait(10)
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert child.exitcode == -signal.SIGKILL
    mdir = store.models_dir / "iris"
    leftovers = [p.name for p in mdir.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers and leftovers[0].startswith(f".tmp-2-{child.pid}-")
    assert store.versions("iris") == [1]
    assert store.recover() == [f"iris/{leftovers[0]}"]
    assert store.publish("iris", b"z", {}) == 3
    assert store.versions("iris") == [1, 3]
    assert store.read_artifact("iris", 3) == b"z"


# -- resolution ---------------------------------------------------------------------------------
def test_resolve_by_int_string_latest_and_alias(store: ModelStore) -> None:
    publish_n(store, "iris", 3)
    store.set_alias("iris", "stable", 2)
    assert store.resolve("iris") == 3
    assert store.resolve("iris", None) == 3
    assert store.resolve("iris", "latest") == 3
    assert store.resolve("iris", 1) == 1
    assert store.resolve("iris", "1") == 1
    assert store.resolve("iris", "stable") == 2
    with pytest.raises(NotFound, match="version 7 of model 'iris'"):
        store.resolve("iris", 7)
    with pytest.raises(NotFound, match="alias 'canary' of model 'iris'"):
        store.resolve("iris", "canary")
    with pytest.raises(NotFound, match="model 'wine'"):
        store.resolve("wine")
    with pytest.raises(NotFound, match="model 'wine'"):
        store.versions("wine")


# -- names --------------------------------------------------------------------------------------
BAD_NAMES = ["../x", "a/b", "", "a" * 65, "..", ".", ".hidden", "-x", "a b", "x\n", "é", None, 3]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_model_names_are_422_before_touching_the_filesystem(
        store: ModelStore, name: object) -> None:
    before = sorted(store.root.rglob("*"))
    for call in (lambda: store.publish(name, b"x", {}), lambda: store.versions(name),
                 lambda: store.resolve(name), lambda: store.freshness_token(name),
                 lambda: store.aliases(name), lambda: validate_model_name(name)):
        with pytest.raises(Unprocessable) as err:
            call()
        assert err.value.status == 422 and list(err.value.errors) == ["model"]
    assert sorted(store.root.rglob("*")) == before


def test_valid_names_and_versions(store: ModelStore) -> None:
    assert validate_model_name("a" * 64) == "a" * 64
    assert validate_model_name("Iris_v2.final-1") == "Iris_v2.final-1"
    assert validate_alias("prod-2") == "prod-2"
    assert parse_version("12") == 12 and parse_version(3) == 3
    assert store.publish("a" * 64, b"x", {}) == 1


@pytest.mark.parametrize("alias", ["latest", "123", "../x", "a/b", "", ".."])
def test_invalid_alias_is_422(store: ModelStore, alias: str) -> None:
    publish_n(store, "iris", 1)
    with pytest.raises(Unprocessable) as err:
        store.set_alias("iris", alias, 1)
    assert list(err.value.errors) == ["alias"]


@pytest.mark.parametrize("version", [0, -1, "abc", "1.5", "", True, 2.0, "1" * 19])
def test_invalid_version_is_422(store: ModelStore, version: object) -> None:
    publish_n(store, "iris", 1)
    with pytest.raises(Unprocessable) as err:
        store.meta("iris", version)
    assert list(err.value.errors) == ["version"]


# -- symlinks -----------------------------------------------------------------------------------
def test_symlinked_model_dir_is_not_followed(store: ModelStore, tmp_path: Path) -> None:
    outside = ModelStore(tmp_path / "outside")
    outside.publish("secret", b"outside data", {})
    (store.models_dir / "secret").symlink_to(outside.models_dir / "secret")
    assert store.list_models() == []
    with pytest.raises(NotFound):
        store.versions("secret")
    with pytest.raises(NotFound):
        store.read_artifact("secret", 1)
    assert store.freshness_token("secret") is None
    with pytest.raises(ServiceError):
        store.publish("secret", b"planted", {})
    assert outside.versions("secret") == [1]
    store.recover()
    assert outside.versions("secret") == [1]


def test_symlinked_version_dir_and_files_are_not_followed(
        store: ModelStore, tmp_path: Path) -> None:
    outside = ModelStore(tmp_path / "outside")
    outside.publish("iris", b"outside data", {})
    publish_n(store, "iris", 1)
    mdir = store.models_dir / "iris"
    (mdir / "5").symlink_to(outside.models_dir / "iris" / "1")
    assert store.versions("iris") == [1]
    with pytest.raises(NotFound):
        store.resolve("iris", 5)
    artifact = mdir / "1" / "model.npz"
    artifact.unlink()
    artifact.symlink_to(outside.artifact_path("iris", 1))
    with pytest.raises(ArtifactCorrupt):
        store.read_artifact("iris", 1)
    with pytest.raises(ArtifactCorrupt):
        store.artifact_path("iris", 1)


# -- delete and aliases -------------------------------------------------------------------------
def test_delete_aliased_version_is_409_naming_the_alias(store: ModelStore) -> None:
    publish_n(store, "iris", 2)
    store.set_alias("iris", "prod", 1)
    with pytest.raises(Conflict, match="prod") as err:
        store.delete_version("iris", 1)
    assert err.value.status == 409
    assert store.versions("iris") == [1, 2]
    store.delete_alias("iris", "prod")
    store.delete_version("iris", 1)
    assert store.versions("iris") == [2]
    with pytest.raises(NotFound):
        store.delete_version("iris", 1)


def test_deleting_the_last_version_keeps_numbering(store: ModelStore) -> None:
    publish_n(store, "iris", 3)
    for v in (3, 1, 2):
        store.delete_version("iris", v)
    with pytest.raises(NotFound, match="model 'iris'"):
        store.versions("iris")
    with pytest.raises(NotFound):
        store.latest("iris")
    assert not [p for p in (store.models_dir / "iris").iterdir() if p.name.startswith(".del-")]
    store.recover()  # prunes allocation markers but keeps the highest
    assert store.publish("iris", b"x", {}) == 4


def test_alias_errors(store: ModelStore) -> None:
    publish_n(store, "iris", 1)
    with pytest.raises(NotFound, match="version 2"):
        store.set_alias("iris", "prod", 2)
    with pytest.raises(NotFound, match="alias 'prod'"):
        store.delete_alias("iris", "prod")
    with pytest.raises(NotFound, match="model 'wine'"):
        store.set_alias("wine", "prod", 1)
    store.set_alias("iris", "prod", 1)
    store.set_alias("iris", "prod", 1)
    assert store.aliases("iris") == {"prod": 1}


def _alias_setter(root: Path, worker: int) -> None:
    store = ModelStore(root)
    for i in range(5):
        store.set_alias("iris", f"w{worker}-{i}", 1 + (worker + i) % 3)


def test_concurrent_alias_updates_from_processes_are_not_lost(store: ModelStore) -> None:
    publish_n(store, "iris", 3)
    procs = [CTX.Process(target=_alias_setter, args=(store.root, w)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(20)
        assert p.exitcode == 0
    expected = {f"w{w}-{i}": 1 + (w + i) % 3 for w in range(6) for i in range(5)}
    assert store.aliases("iris") == expected


# -- integrity ----------------------------------------------------------------------------------
def test_tampered_artifact_fails_sha256_check(store: ModelStore) -> None:
    publish_n(store, "iris", 3)
    path = store.artifact_path("iris", 3)
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactCorrupt) as err:
        store.read_artifact("iris", 3)
    assert err.value.status == 503
    assert err.value.detail == "artifact of iris v3 failed its sha256 check"


def test_truncated_artifact_is_corrupt(store: ModelStore) -> None:
    store.publish("iris", b"0123456789", {})
    store.artifact_path("iris", 1).write_bytes(b"01234")
    with pytest.raises(ArtifactCorrupt, match="truncated"):
        store.read_artifact("iris", 1)
    store.artifact_path("iris", 1).unlink()
    with pytest.raises(ArtifactCorrupt, match="missing"):
        store.read_artifact("iris", 1)


# -- freshness and probes -----------------------------------------------------------------------
def test_freshness_token_changes_with_visible_state(store: ModelStore) -> None:
    assert store.freshness_token("iris") is None
    publish_n(store, "iris", 1)
    mdir = store.models_dir / "iris"

    def token_after(change) -> int:
        os.utime(mdir, ns=(1, 1))  # back-date, so any change of the entries moves it
        change()
        return store.freshness_token("iris")

    assert token_after(lambda: None) == 1
    assert token_after(lambda: store.publish("iris", b"x", {})) != 1
    assert token_after(lambda: store.set_alias("iris", "prod", 1)) != 1
    assert token_after(lambda: store.set_alias("iris", "prod", 2)) != 1
    assert token_after(lambda: store.delete_alias("iris", "prod")) != 1
    assert token_after(lambda: store.delete_version("iris", 2)) != 1


def test_writable_probe(store: ModelStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store.writable() == (True, "ok")
    assert list(store.models_dir.iterdir()) == []

    def fail(path: Path, data: bytes) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(store_mod, "write_synced", fail)
    ok, why = store.writable()
    assert not ok and "Read-only" in why


def test_origin_tag_is_plain_hex() -> None:
    assert len(ORIGIN) == 12 and int(ORIGIN, 16) >= 0
