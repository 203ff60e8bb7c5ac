"""The JobStore contract, run against both backends (SQLite file and a real Redis)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid

import pytest
import redis

from service.errors import NotFound, TooManyRequests
from service.jobs import RedisJobStore, SqliteJobStore
from service.jobs.records import iso, new_job

REDIS_URL = os.environ.get("NNSERVE_TEST_REDIS", "redis://127.0.0.1:6379/15")
DATASET = {"rows": 10, "features": 2, "classes": 2, "sha256": "0" * 64}


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def make_store(request, tmp_path):
    """A factory of stores of one backend, all sharing the same data."""
    if request.param == "sqlite":
        yield _factory(("sqlite", str(tmp_path / "jobs.sqlite3")))
        return
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # an unreachable Redis fails the test, it does not skip it
    prefix = f"nnt{uuid.uuid4().hex[:12]}:"
    yield _factory(("redis", prefix))
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def _open(spec: tuple[str, str], ttl: float = 3600.0):
    """A store from a picklable spec: ("sqlite", path) or ("redis", prefix)."""
    kind, where = spec
    if kind == "sqlite":
        return SqliteJobStore(where, idempotency_ttl=ttl)
    return RedisJobStore(REDIS_URL, prefix=where, idempotency_ttl=ttl)


def _factory(spec: tuple[str, str]):
    def make(ttl: float = 3600.0):
        return _open(spec, ttl)

    make.spec = spec  # for child processes, which cannot unpickle the closure
    return make


@pytest.fixture
def store(make_store):
    return make_store()


def _job(model: str = "iris", **kw) -> dict:
    job = new_job(uuid.uuid4().hex, model, {"epochs": 3}, DATASET)
    job.update(kw)
    return job


def test_create_get_roundtrip(store):
    job = _job()
    assert store.create(job) is None
    assert store.get(job["job_id"]) == job
    with pytest.raises(NotFound, match="job nope"):
        store.get("nope")
    store.ping()


def test_list_newest_first_with_filters_and_pages(store):
    jobs = [_job("a"), _job("b"), _job("a"), _job("a")]
    for job in jobs:
        store.create(job)
        time.sleep(0.002)
    assert store.transition(jobs[3]["job_id"], ("queued",), "running", worker="w")
    page, total = store.list()
    assert total == 4 and [j["job_id"] for j in page] == [j["job_id"] for j in jobs[::-1]]
    page, total = store.list(model="a", limit=2, offset=1)
    assert total == 3 and [j["job_id"] for j in page] == [jobs[2]["job_id"], jobs[0]["job_id"]]
    page, total = store.list(status="running")
    assert total == 1 and page[0]["job_id"] == jobs[3]["job_id"]
    page, total = store.list(model="a", status="queued")
    assert total == 2 and {j["job_id"] for j in page} == {jobs[0]["job_id"], jobs[2]["job_id"]}
    assert store.list(model="zzz") == ([], 0)
    assert store.count_active("a") == 3
    assert store.transition(jobs[3]["job_id"], ("running",), "succeeded", model_version=1)
    assert store.count_active("a") == 2


def test_transition_is_compare_and_set_and_stamps_times(store):
    job = _job()
    store.create(job)
    jid = job["job_id"]
    assert not store.transition(jid, ("running",), "succeeded")
    assert store.transition(jid, ("queued",), "running", worker="w1", attempts=1)
    got = store.get(jid)
    assert got["status"] == "running" and got["worker"] == "w1" and got["attempts"] == 1
    assert got["started_at"] and got["heartbeat_at"] and got["finished_at"] is None
    assert not store.transition(jid, ("queued",), "running", worker="w2")
    assert store.get(jid)["worker"] == "w1"
    started = got["started_at"]
    assert store.transition(jid, ("running",), "running", cancel_requested=True)
    assert store.get(jid)["started_at"] == started and store.cancel_requested(jid)
    assert store.transition(jid, ("running",), "failed", error={"type": "x", "message": "m"})
    got = store.get(jid)
    assert got["status"] == "failed" and got["finished_at"] and got["error"]["type"] == "x"
    assert not store.transition("missing", ("queued",), "running")


def test_transition_race_has_one_winner(make_store):
    job = _job()
    make_store().create(job)
    stores = [make_store() for _ in range(8)]
    wins, barrier = [], threading.Barrier(len(stores))

    def claim(s, i):
        barrier.wait()
        if s.transition(job["job_id"], ("queued",), "running", worker=f"w{i}"):
            wins.append(i)

    threads = [threading.Thread(target=claim, args=(s, i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert stores[0].get(job["job_id"])["worker"] == f"w{wins[0]}"


def test_update_and_heartbeat(store):
    job = _job()
    store.create(job)
    jid = job["job_id"]
    progress = {"epoch": 1, "epochs": 3, "loss": 0.5, "accuracy": 0.7, "val_accuracy": None}
    assert store.update(jid, progress=progress, history=[{"epoch": 1, "loss": 0.5}])
    got = store.get(jid)
    assert got["progress"] == progress and got["history"] == [{"epoch": 1, "loss": 0.5}]
    assert got["status"] == "queued"
    assert not store.update("missing", progress=progress)
    with pytest.raises(ValueError):
        store.update(jid, status="running")
    assert not store.heartbeat(jid, "w1")  # not running
    store.transition(jid, ("queued",), "running", worker="w1",
                     heartbeat_at=iso(time.time() - 100))
    assert [j["job_id"] for j in store.stale_running(50)] == [jid]
    assert not store.heartbeat(jid, "w2")  # someone else's job
    assert store.heartbeat(jid, "w1")
    assert store.stale_running(50) == []
    assert [j["job_id"] for j in store.stale_running(float("-inf"))] == [jid]
    store.transition(jid, ("running",), "cancelled")
    assert store.stale_running(float("-inf")) == []
    assert not store.heartbeat(jid, "w1")


def test_idempotency_key_claimed_atomically_with_ttl(make_store):
    store = make_store(ttl=0.5)
    first, second = _job(), _job()
    assert store.create(first, idempotency_key="k1", body_sha256="aaa") is None
    taken = store.create(second, idempotency_key="k1", body_sha256="bbb")
    assert taken is not None and (taken.job_id, taken.body_sha256) == (first["job_id"], "aaa")
    with pytest.raises(NotFound):
        store.get(second["job_id"])
    assert store.idempotency("k1").job_id == first["job_id"]
    assert store.idempotency("k2") is None
    time.sleep(0.6)
    assert store.idempotency("k1") is None
    assert store.create(second, idempotency_key="k1", body_sha256="bbb") is None
    assert store.idempotency("k1").job_id == second["job_id"]


def test_create_refuses_beyond_max_active(store):
    first, second = _job(), _job()
    assert store.create(first, idempotency_key="k1", body_sha256="aaa", max_active=2) is None
    assert store.create(second, max_active=2) is None
    refused = _job()
    with pytest.raises(TooManyRequests) as excinfo:
        store.create(refused, idempotency_key="k2", body_sha256="bbb", max_active=2)
    assert excinfo.value.status == 429 and int(excinfo.value.headers["Retry-After"]) >= 1
    assert "'iris' has 2 queued or running jobs (limit 2)" in excinfo.value.detail
    with pytest.raises(NotFound):
        store.get(refused["job_id"])
    assert store.idempotency("k2") is None  # a refused create does not claim its key
    assert store.count_active("iris") == 2 and store.list()[1] == 2
    # A replayed key returns its record even though the model is at its limit.
    taken = store.create(_job(), idempotency_key="k1", body_sha256="aaa", max_active=2)
    assert taken is not None and taken.job_id == first["job_id"]
    assert store.create(_job(), max_active=3) is None  # the limit is per call
    assert store.create(_job("other"), max_active=1) is None  # per model
    assert store.create(_job(), max_active=None) is None  # no limit
    assert store.count_active("iris") == 4
    assert store.transition(first["job_id"], ("queued",), "running", worker="w")
    with pytest.raises(TooManyRequests):  # running jobs count too
        store.create(_job(), max_active=4)
    assert store.transition(first["job_id"], ("running",), "succeeded")
    assert store.transition(second["job_id"], ("queued",), "cancelled")
    assert store.create(refused, idempotency_key="k2", body_sha256="bbb", max_active=3) is None
    assert store.idempotency("k2").job_id == refused["job_id"]


def _hammer(spec, model_names, threads, barrier, results):
    """One process: ``threads`` threads, each with its own store, create one job per model at
    the same moment as every other thread of every process."""
    out = []

    def run():
        store = _open(spec)
        for model in model_names:
            barrier.wait(timeout=60)
            try:
                store.create(_job(model), max_active=3)
                out.append((model, "created"))
            except TooManyRequests:
                out.append((model, "refused"))
            except Exception as exc:  # reported, not swallowed
                out.append((model, f"error: {exc!r}"))
        store.close()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    results.put(out)


def test_max_active_is_exact_under_concurrent_creates(make_store):
    """F3: the count and the insert are one atomic step, across threads and processes."""
    processes, threads, rounds = 4, 3, 6
    models = [f"race-{i}" for i in range(rounds)]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes * threads), ctx.Queue()
    make_store().ping()  # create the schema before the race
    procs = [ctx.Process(target=_hammer, args=(make_store.spec, models, threads, barrier,
                                               results)) for _ in range(processes)]
    for p in procs:
        p.start()
    outcomes = [item for _ in procs for item in results.get(timeout=120)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    store = make_store()
    for model in models:
        got = sorted(outcome for m, outcome in outcomes if m == model)
        assert got == ["created"] * 3 + ["refused"] * (processes * threads - 3), (model, got)
        assert store.count_active(model) == 3 and store.list(model=model)[1] == 3


# -- what a hyper-parameter search relies on (service.jobs.search) ----------------------------
def _bump(spec: tuple[str, str], job_id: str, times: int) -> None:
    """A search step's loop: read, change, write if ``rev`` is unchanged, else read again."""
    jobs = _open(spec)
    for _ in range(times):
        while True:
            job = jobs.get(job_id)
            runs = [*job["search"]["runs"], {"n": len(job["search"]["runs"])}]
            if jobs.compare_and_update(job_id, "rev", job["rev"], rev=job["rev"] + 1,
                                       search={"runs": runs}):
                break


def test_compare_and_update_loses_no_update_across_processes(make_store):
    jobs = make_store()
    job = _job(rev=0, search={"runs": []})
    jobs.create(job)
    assert not jobs.compare_and_update(job["job_id"], "rev", 5, rev=6)
    assert not jobs.compare_and_update("nope", "rev", 0, rev=1)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_bump, args=(make_store.spec, job["job_id"], 15))
             for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    final = jobs.get(job["job_id"])
    assert final["rev"] == 60
    assert [r["n"] for r in final["search"]["runs"]] == list(range(60))


def test_compare_and_update_on_a_missing_field_compares_with_null(store):
    job = _job()
    store.create(job)
    assert store.compare_and_update(job["job_id"], "rev", None, rev=0)
    assert store.get(job["job_id"])["rev"] == 0


def test_worker_slots_add_up_expire_and_withdraw(store):
    assert store.worker_slots() == 0
    store.announce_worker("host-a:1", 2, 30)
    store.announce_worker("host-b:1", 1, 0.3)
    assert store.worker_slots() == 3
    store.announce_worker("host-a:1", 3, 30)  # a re-announcement replaces
    assert store.worker_slots() == 4
    time.sleep(0.5)
    assert store.worker_slots() == 3  # host-b's announcement expired
    store.announce_worker("host-a:1", 0, 0)
    assert store.worker_slots() == 0
