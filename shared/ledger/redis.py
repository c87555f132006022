"""The ledger in Redis: the distributed mode's, shared by every worker through the broker's server.

Each transition is one Lua script, so concurrent workers never interleave a check and a write.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from shared.errors import StoreError
from shared.ledger.protocol import FAILURES, FINAL, PENDING, Action, SourceRecord, State, decide, source_id, stale
from shared.storage import ObjectInfo

_PREFIX = "mmindex:ledger"

_FINAL = "local FINAL = {" + ", ".join(f"{state.value} = true" for state in sorted(FINAL)) + "}\n"
"""Lua: the states no transition leaves (done, failed, dead, deleted), as the SQLite ledger refuses them too."""

# KEYS: record hash, items set, prefix of state sets. ARGV: version, now, new state, then field/value pairs.
_UPDATE = (
    _FINAL
    + """
local record = redis.call('HGETALL', KEYS[1])
if #record == 0 then return 0 end
local current = {}
for i = 1, #record, 2 do current[record[i]] = record[i + 1] end
if current['version'] ~= ARGV[1] or FINAL[current['state']] then return 0 end
redis.call('SREM', KEYS[3] .. current['state'], current['id'])
redis.call('SADD', KEYS[3] .. ARGV[3], current['id'])
redis.call('HSET', KEYS[1], 'state', ARGV[3], 'updated_at', ARGV[2])
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[3] == 'failed' or ARGV[3] == 'dead' then
  redis.call('ZADD', KEYS[3] .. 'failed:recent', ARGV[2], current['id'])
end
if ARGV[3] == 'done' or ARGV[3] == 'failed' or ARGV[3] == 'dead' then
  redis.call('ZADD', KEYS[3] .. 'finished:recent', ARGV[2], current['id'])
end
return 1
"""
)

# KEYS: record hash, items set, prefix of state sets. ARGV: version, now, item ids...
_INDEXED = (
    _FINAL
    + """
local version = redis.call('HGET', KEYS[1], 'version')
local state = redis.call('HGET', KEYS[1], 'state')
if version ~= ARGV[1] or FINAL[state] then return 0 end
for i = 3, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
local items = tonumber(redis.call('HGET', KEYS[1], 'items') or '')
local id = redis.call('HGET', KEYS[1], 'id')
local next_state = 'indexing'
if items ~= nil and redis.call('SCARD', KEYS[2]) >= items then next_state = 'done' end
redis.call('SREM', KEYS[3] .. state, id)
redis.call('SADD', KEYS[3] .. next_state, id)
redis.call('HSET', KEYS[1], 'state', next_state, 'updated_at', ARGV[2])
if next_state == 'done' then
  redis.call('ZADD', KEYS[3] .. 'finished:recent', ARGV[2], id)
  return 1
end
return 0
"""
)


# KEYS: record hash, items set, prefix of state sets, parts hash. ARGV: version, now, part, parts, items.
_DECODED = (
    _FINAL
    + """
local version = redis.call('HGET', KEYS[1], 'version')
local state = redis.call('HGET', KEYS[1], 'state')
if version ~= ARGV[1] or FINAL[state] then return 0 end
redis.call('HSETNX', KEYS[4], ARGV[3], ARGV[5])
local next_state = 'embedding'
if state == 'indexing' then next_state = 'indexing' end
if redis.call('HLEN', KEYS[4]) >= tonumber(ARGV[4]) then
  local total = 0
  for _, count in ipairs(redis.call('HVALS', KEYS[4])) do total = total + tonumber(count) end
  redis.call('HSET', KEYS[1], 'items', total)
  if redis.call('SCARD', KEYS[2]) >= total then next_state = 'done' else next_state = 'embedding' end
end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('SREM', KEYS[3] .. state, id)
redis.call('SADD', KEYS[3] .. next_state, id)
redis.call('HSET', KEYS[1], 'state', next_state, 'updated_at', ARGV[2])
if next_state == 'done' then redis.call('ZADD', KEYS[3] .. 'finished:recent', ARGV[2], id) end
return 1
"""
)


class RedisLedger:
    def __init__(self, url: str, in_flight_timeout_s: float = 3600) -> None:
        self._in_flight_timeout_s = in_flight_timeout_s
        # A short outage (a restart) is ridden out inside each call: connection errors and timeouts are retried
        # with backoff for about 10 s, and an idle connection is checked before use instead of failing on it.
        self._redis: Any = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=30,
            socket_connect_timeout=5,
            health_check_interval=15,
            retry=Retry(ExponentialWithJitterBackoff(base=0.1, cap=2), 8),
        )
        self._update = self._redis.register_script(_UPDATE)
        self._indexed = self._redis.register_script(_INDEXED)
        self._decoded = self._redis.register_script(_DECODED)

    def _keys(self, id: str) -> list[str]:
        return [f"{_PREFIX}:source:{id}", f"{_PREFIX}:items:{id}", f"{_PREFIX}:state:", f"{_PREFIX}:parts:{id}"]

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise StoreError(f"the ledger's Redis is unreachable ({error})") from error

    def _record(self, data: dict[str, str], indexed: int) -> SourceRecord:
        return SourceRecord(
            id=data["id"],
            root=data["root"],
            key=data["key"],
            uri=data["uri"],
            version=data["version"],
            pipeline=data["pipeline"],
            state=State(data["state"]),
            items=int(data["items"]) if data.get("items") else None,
            indexed=indexed,
            error=data.get("error") or None,
            created_at=float(data["created_at"]),
            updated_at=float(data["updated_at"]),
            sequencer=data.get("sequencer") or None,
        )

    def _reset(
        self, source: ObjectInfo, pipeline: str, state: State, sequencer: str | None, *, skip: Callable[..., Any]
    ) -> tuple[str, Any]:
        """Make the record hold a new version (or a deletion) with no progress, unless `skip(existing)` says
        otherwise (its answer is returned): read and write in one optimistic transaction."""
        id = source_id(source.root, source.key)
        record_key, items_key, state_prefix, parts_key = self._keys(id)
        now = time.time()
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(record_key)
                    data = pipe.hgetall(record_key)
                    existing = self._record(data, 0) if data else None
                    answer = skip(existing)
                    if answer is not None:
                        pipe.unwatch()
                        return id, answer
                    pipe.multi()
                    if existing is not None:
                        pipe.srem(state_prefix + existing.state, id)
                    pipe.delete(items_key, parts_key)
                    pipe.hdel(record_key, "items", "error")
                    mapping = {
                        "id": id,
                        "root": source.root,
                        "key": source.key,
                        "uri": source.uri,
                        "version": existing.version if state is State.DELETED and existing else source.version,
                        "pipeline": pipeline if state is not State.DELETED or not existing else existing.pipeline,
                        "state": state,
                        "created_at": data.get("created_at", now),
                        "updated_at": now,
                    }
                    if sequencer is not None:
                        mapping["sequencer"] = sequencer
                    pipe.hset(record_key, mapping=mapping)
                    pipe.sadd(state_prefix + state, id)
                    pipe.zrem(state_prefix + "failed:recent", id)
                    pipe.execute()
                    return id, None
                except redis.WatchError:
                    continue
                except (redis.ConnectionError, redis.TimeoutError) as error:
                    raise StoreError(f"the ledger's Redis is unreachable ({error})") from error

    def submit(self, source: ObjectInfo, pipeline: str, sequencer: str | None = None) -> tuple[str, Action]:
        decided: list[Action] = []

        def skip(existing: SourceRecord | None) -> Action | None:
            if stale(existing, sequencer):
                return Action.STALE
            decided[:] = [decide(existing, source.version, pipeline, self._in_flight_timeout_s)]
            if decided[0] is Action.SKIP:
                if sequencer is not None:  # the same version again, but a newer event: remember its order
                    self._call(self._redis.hset, self._keys(source_id(source.root, source.key))[0], "sequencer",
                               sequencer)  # fmt: skip
                return Action.SKIP
            return None

        id, skipped = self._reset(source, pipeline, State.QUEUED, sequencer, skip=skip)
        return id, skipped or decided[0]

    def remove(self, source: ObjectInfo, sequencer: str | None = None) -> SourceRecord | None:
        id, skipped = self._reset(
            source, "", State.DELETED, sequencer, skip=lambda existing: True if stale(existing, sequencer) else None
        )
        if skipped:
            return None
        (record,) = self.get([id])
        return record

    def get(self, ids: Sequence[str]) -> list[SourceRecord]:
        with self._redis.pipeline(transaction=False) as pipe:
            for id in ids:
                record_key, items_key, _, _ = self._keys(id)
                pipe.hgetall(record_key)
                pipe.scard(items_key)
            replies = self._call(pipe.execute)
        return [self._record(data, int(count)) for data, count in zip(replies[::2], replies[1::2], strict=True) if data]

    def _transition(self, id: str, version: str, state: State, **fields: object) -> bool:
        flat = [str(part) for pair in fields.items() for part in pair]
        return bool(self._call(self._update, keys=self._keys(id), args=[version, time.time(), state, *flat]))

    def advance(self, id: str, version: str, state: State) -> bool:
        return self._transition(id, version, state)

    def decoded(self, id: str, version: str, items: int, part: int = 0, parts: int = 1) -> bool:
        args = [version, time.time(), part, parts, items]
        return bool(self._call(self._decoded, keys=self._keys(id), args=args))

    def indexed(self, id: str, version: str, item_ids: Iterable[str]) -> bool:
        return bool(self._call(self._indexed, keys=self._keys(id), args=[version, time.time(), *item_ids]))

    def fail(self, id: str, version: str, reason: str, dead: bool = False) -> bool:
        return self._transition(id, version, State.DEAD if dead else State.FAILED, error=reason)

    def counts(self) -> dict[State, int]:
        with self._redis.pipeline(transaction=False) as pipe:
            for state in State:
                pipe.scard(f"{_PREFIX}:state:{state}")
            replies = self._call(pipe.execute)
        return {state: int(count) for state, count in zip(State, replies, strict=True)}

    def failures(self, limit: int = 100) -> list[SourceRecord]:
        ids = self._call(self._redis.zrevrange, f"{_PREFIX}:state:failed:recent", 0, limit * 2)
        records = [record for record in self.get(ids) if record.state in FAILURES]
        return records[:limit]

    def finished_since(self, since: float) -> int:
        return int(self._call(self._redis.zcount, f"{_PREFIX}:state:finished:recent", since, "+inf"))

    def idle(self, before: float, limit: int = 10_000) -> list[SourceRecord]:
        found: list[str] = []
        for state in sorted(PENDING):
            cursor = 0
            while len(found) < limit:
                cursor, ids = self._call(self._redis.sscan, f"{_PREFIX}:state:{state}", cursor, count=1000)
                with self._redis.pipeline(transaction=False) as pipe:
                    for id in ids:
                        pipe.hget(self._keys(id)[0], "updated_at")
                    updated = self._call(pipe.execute)
                found += [id for id, at in zip(ids, updated, strict=True) if at is not None and float(at) < before]
                if cursor == 0:
                    break
        return [record for record in self.get(found[:limit]) if record.state in PENDING and record.updated_at < before]

    def epoch(self, create: bool = False) -> str | None:
        key = f"{_PREFIX}:epoch"
        if create:
            self._call(self._redis.set, key, f"{uuid.uuid4().hex} {time.time():.0f}", nx=True)
        value = self._call(self._redis.get, key)
        return None if value is None else str(value)
