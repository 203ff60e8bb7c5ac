"""``RedisJobStore``: job records as Redis hashes, indexed by sorted sets.

Keys (``p`` is the prefix, default ``nnserve:``):

- ``p job:<id>`` hash: one field per record field, each JSON-encoded, plus the raw ``_model``
  and ``_score`` (creation time) the indexes need;
- ``p idx:all``, ``p idx:model:<m>``, ``p idx:status:<s>``, ``p idx:ms:<m>:<s>`` sorted sets of
  ids scored by creation time (listing newest first, counting active jobs: ``create`` counts
  ``idx:ms:<m>:queued`` and ``:running`` in its script, so the per-model limit is exact);
- ``p idx:hb`` sorted set of running ids scored by their last heartbeat;
- ``p hist:<id>`` hash of the job's history: epoch → entry (JSON), so a progress write costs
  the entries it adds, not the epochs so far;
- ``p idem:<key>`` string ``{"job_id", "body_sha256", "created_at"}`` with the TTL.

Every multi-key change is one Lua script, so it is atomic; ``transition`` is a compare-and-set
on ``status``. Timestamps are Redis's ``TIME``: heartbeats stamped by workers on different hosts
are compared on one clock. redis-py's pool reconnects after a fork by itself.
"""

from __future__ import annotations

import builtins  # in the store classes `list` is the listing method, not the type
import json
from typing import Any, cast

import redis
from redis.client import Pipeline

from service.errors import NotFound
from service.jobs.records import (
    QUEUED,
    RUNNING,
    IdempotencyRecord,
    iso,
    parse_iso,
    queue_full,
    transition_fields,
    update_fields,
)

_CREATE = """
-- KEYS: job, idx:all, idx:model, idx:status, idx:ms, idx:ms:<model>:queued,
-- idx:ms:<model>:running [, idem];
-- ARGV: id, score, idem json, ttl ms, max active ('' for no limit), then field/value pairs.
-- Returns false when created, the idem json when the key is taken, the active count (an
-- integer) when the model is at its limit; checked in that order, nothing written but on create.
if #KEYS == 8 then
  local taken = redis.call('GET', KEYS[8])
  if taken then return taken end
end
if ARGV[5] ~= '' then
  local active = redis.call('ZCARD', KEYS[6]) + redis.call('ZCARD', KEYS[7])
  if active >= tonumber(ARGV[5]) then return active end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('job exists') end
if #KEYS == 8 then redis.call('SET', KEYS[8], ARGV[3], 'PX', ARGV[4]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
for i = 2, 5 do redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1]) end
return false
"""

_TRANSITION = """
-- KEYS: job; ARGV: prefix, id, to, now, n, from_1..from_n, then field/value pairs
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return 0 end
cur = string.sub(cur, 2, -2)
local n = tonumber(ARGV[5])
local ok = false
for i = 1, n do if ARGV[5 + i] == cur then ok = true end end
if not ok then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 6 + n))
local p, id, to = ARGV[1], ARGV[2], ARGV[3]
if cur ~= to then
  local model = redis.call('HGET', KEYS[1], '_model')
  local score = redis.call('HGET', KEYS[1], '_score')
  redis.call('ZREM', p .. 'idx:status:' .. cur, id)
  redis.call('ZREM', p .. 'idx:ms:' .. model .. ':' .. cur, id)
  redis.call('ZADD', p .. 'idx:status:' .. to, score, id)
  redis.call('ZADD', p .. 'idx:ms:' .. model .. ':' .. to, score, id)
  if to == 'running' then
    redis.call('ZADD', p .. 'idx:hb', ARGV[4], id)
  elseif cur == 'running' then
    redis.call('ZREM', p .. 'idx:hb', id)
  end
end
return 1
"""

_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

_CAS = """
-- KEYS: job; ARGV: field, expected json, then field/value pairs
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur == false then cur = 'null' end
if cur ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
return 1
"""

_WORKER_SLOTS = """
-- KEYS: workers zset (score: expiry), slots hash; ARGV: now
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, w in ipairs(gone) do redis.call('HDEL', KEYS[2], w) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local total = 0
for _, n in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(n) end
return total
"""

_HISTORY_FIELD = "history"

_HEARTBEAT = """
-- KEYS: job, idx:hb; ARGV: id, worker json, now, heartbeat_at json
if redis.call('HGET', KEYS[1], 'status') ~= '"running"' then return 0 end
if redis.call('HGET', KEYS[1], 'worker') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'heartbeat_at', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""


def _pairs(fields: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name, value in fields.items():
        out += [name, json.dumps(value)]
    return out


class RedisJobStore:
    """Job records in Redis; see the module docstring."""

    def __init__(self, url: str, *, prefix: str = "nnserve:",
                 idempotency_ttl: float = 86400.0) -> None:
        self.prefix = prefix
        self.idempotency_ttl = idempotency_ttl
        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10,
                                          socket_connect_timeout=5, health_check_interval=30)
        self._create = self.redis.register_script(_CREATE)
        self._transition = self.redis.register_script(_TRANSITION)
        self._update = self.redis.register_script(_UPDATE)
        self._heartbeat = self.redis.register_script(_HEARTBEAT)
        self._cas = self.redis.register_script(_CAS)
        self._worker_slots = self.redis.register_script(_WORKER_SLOTS)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _job(self, job_id: str) -> str:
        return self._key("job", job_id)

    def close(self) -> None:
        """Nothing per thread: the pool is shared."""

    # redis-py types each reply `Awaitable[T] | T`, one signature for its sync and asyncio
    # clients; this client is sync, so the casts (marked "sync client") name the reply's type.
    def now(self) -> float:
        seconds, micros = cast(tuple[int, int], self.redis.time())  # sync client
        return seconds + micros / 1e6

    @staticmethod
    def _decode(raw: dict[str, str]) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in raw.items() if not k.startswith("_")}

    def _append_history(self, pipe: Pipeline, job_id: str, entries: list[dict[str, Any]]) -> None:
        if entries:
            pipe.hset(self._key("hist", job_id),
                      mapping={str(int(e["epoch"])): json.dumps(e) for e in entries})

    # -- records -------------------------------------------------------------------------------
    def create(self, job: dict[str, Any], *, idempotency_key: str | None = None,
               body_sha256: str | None = None,
               max_active: int | None = None) -> IdempotencyRecord | None:
        now = self.now()
        job_id, model, status = job["job_id"], job["model"], job["status"]
        keys = [self._job(job_id), self._key("idx", "all"), self._key("idx", "model", model),
                self._key("idx", "status", status), self._key("idx", "ms", model, status),
                self._key("idx", "ms", model, QUEUED), self._key("idx", "ms", model, RUNNING)]
        idem = ""
        if idempotency_key is not None:
            keys.append(self._key("idem", idempotency_key))
            idem = json.dumps({"job_id": job_id, "body_sha256": body_sha256 or "",
                               "created_at": now})
        fields = {**{k: json.dumps(v) for k, v in job.items()}, "_model": model,
                  "_score": repr(now)}
        args = [job_id, repr(now), idem, int(self.idempotency_ttl * 1000),
                "" if max_active is None else int(max_active)]
        for name, value in fields.items():
            args += [name, value]
        taken = self._create(keys=keys, args=args)
        if taken is None:
            return None
        if isinstance(taken, int):
            raise queue_full(model, taken, int(max_active or 0))
        rec = json.loads(taken)
        return IdempotencyRecord(rec["job_id"], rec["body_sha256"], rec["created_at"])

    def get(self, job_id: str) -> dict[str, Any]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self._job(job_id))
        pipe.hgetall(self._key("hist", job_id))
        raw, hist = pipe.execute()
        if not raw:
            raise NotFound(f"job {job_id} not found")
        job = self._decode(raw)
        if hist:
            job["history"] = [json.loads(hist[k]) for k in sorted(hist, key=int)]
        job.setdefault("history", [])
        return job

    def _get_many(self, ids: list[str]) -> list[dict[str, Any]]:
        """Summaries: the records without their history."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hgetall(self._job(job_id))
        jobs = [self._decode(raw) for raw in pipe.execute() if raw]
        for job in jobs:
            job.pop(_HISTORY_FIELD, None)
        return jobs

    def list(self, model: str | None = None, status: str | None = None, limit: int = 50,
             offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        if model is not None and status is not None:
            index = self._key("idx", "ms", model, status)
        elif model is not None:
            index = self._key("idx", "model", model)
        elif status is not None:
            index = self._key("idx", "status", status)
        else:
            index = self._key("idx", "all")
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(index)
        pipe.zrevrange(index, offset, offset + limit - 1)
        total, ids = pipe.execute()
        return self._get_many(ids), total

    def transition(self, job_id: str, from_states: tuple[str, ...] | builtins.list[str],
                   to_state: str, **fields: Any) -> bool:
        from_states = tuple(from_states)
        entries = fields.pop(_HISTORY_FIELD, None) or []
        now = self.now()
        changes = transition_fields(from_states, to_state, fields, now)
        beat = parse_iso(changes.get("heartbeat_at")) or now
        args: list[str | int] = [self.prefix, job_id, to_state, repr(beat), len(from_states),
                                 *from_states, *_pairs(changes)]
        if entries and self.redis.exists(self._job(job_id)):
            pipe = self.redis.pipeline(transaction=False)
            self._append_history(pipe, job_id, entries)
            pipe.execute()
        return self._transition(keys=[self._job(job_id)], args=args) == 1

    def update(self, job_id: str, **fields: Any) -> bool:
        entries = fields.pop(_HISTORY_FIELD, None) or []
        changes = update_fields(fields, self.now())
        pipe = self.redis.pipeline(transaction=True)
        self._update(keys=[self._job(job_id)], args=_pairs(changes), client=pipe)
        self._append_history(pipe, job_id, entries)
        written = pipe.execute()[0] == 1
        if not written and entries:  # no such job: leave no orphaned history behind
            self.redis.delete(self._key("hist", job_id))
        return written

    def compare_and_update(self, job_id: str, field: str, expected: Any, **fields: Any) -> bool:
        changes = update_fields(fields, self.now())
        args = [field, json.dumps(expected), *_pairs(changes)]
        return self._cas(keys=[self._job(job_id)], args=args) == 1

    def announce_worker(self, worker: str, slots: int, ttl: float) -> None:
        pipe = self.redis.pipeline(transaction=True)
        if slots <= 0:
            pipe.zrem(self._key("workers"), worker)
            pipe.hdel(self._key("worker_slots"), worker)
        else:
            pipe.zadd(self._key("workers"), {worker: self.now() + ttl})
            pipe.hset(self._key("worker_slots"), worker, str(int(slots)))
        pipe.execute()

    def worker_slots(self) -> int:
        keys = [self._key("workers"), self._key("worker_slots")]
        return int(self._worker_slots(keys=keys, args=[repr(self.now())]))

    def heartbeat(self, job_id: str, worker_id: str) -> bool:
        now = self.now()
        keys = [self._job(job_id), self._key("idx", "hb")]
        args = [job_id, json.dumps(worker_id), repr(now), json.dumps(iso(now))]
        return self._heartbeat(keys=keys, args=args) == 1

    def cancel_requested(self, job_id: str) -> bool:
        raw = cast(str | None,  # sync client
                   self.redis.hget(self._job(job_id), "cancel_requested"))
        return bool(raw and json.loads(raw))

    def count_active(self, model: str) -> int:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(self._key("idx", "ms", model, "queued"))
        pipe.zcard(self._key("idx", "ms", model, "running"))
        return sum(pipe.execute())

    def stale_running(self, older_than_s: float) -> builtins.list[dict[str, Any]]:
        cutoff = self.now() - older_than_s
        ids = cast(list[str], self.redis.zrangebyscore(  # sync client
            self._key("idx", "hb"), "-inf", "+inf" if cutoff == float("inf") else f"({cutoff!r}"))
        return [job for job in self._get_many(ids) if job.get("status") == "running"]

    def idempotency(self, key: str) -> IdempotencyRecord | None:
        raw = cast(str | None, self.redis.get(self._key("idem", key)))  # sync client
        if raw is None:
            return None
        rec = json.loads(raw)
        return IdempotencyRecord(rec["job_id"], rec["body_sha256"], rec["created_at"])

    def ping(self) -> None:
        self.redis.ping()
