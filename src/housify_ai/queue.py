"""The worker side of the job queue on Redis Streams (docs/design.md, "Jobs: the API ↔ AI protocol").

One stream per subscription level, one consumer group (:data:`WORKER_GROUP`).
Delivery is at least once:

* :meth:`JobQueue.claim` first takes over jobs that another consumer has held
  for longer than the visibility timeout without a heartbeat (``XAUTOCLAIM``),
  then reads new ones (``XREADGROUP``), choosing the level by stride
  scheduling over the levels' ``its`` weights: while several levels have a
  backlog each is served in proportion to its weight (Pro-Tier 5.0 gets two
  jobs for each Free-Tier 2.5 job); an idle level banks no credit.
* :meth:`JobQueue.heartbeat` re-claims held entries (``XCLAIM ... JUSTID``,
  which resets their idle time without counting a delivery), so a long job is
  not taken over while its worker is alive, but a dead worker's job is.
* :meth:`JobQueue.begin` and :meth:`JobQueue.finish` are Lua scripts, so each
  is one atomic round trip: ``begin`` checks the job's result key and
  cancellation flag and appends ``started``; ``finish`` sets the result key
  with ``SET NX`` and only then appends the :class:`JobResult` and the terminal
  event, and acknowledges the entry. A job's result reaches the results
  stream once, even when two workers ended up running it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from redis.exceptions import ResponseError
from redis.typing import EncodableT, KeyT, StreamIdT

from housify_ai.contract import (
    EVENT_FIELD,
    EVENTS_MAXLEN,
    EVENTS_TTL_SECONDS,
    JOB_FIELD,
    RESULT_FIELD,
    WORKER_GROUP,
    JobEvent,
    JobRequest,
    JobResult,
    StreamKeys,
    decode_request,
    encode,
    ensure_groups,
    read_levels,
    stream_reply,
)
from housify_common.redis import RedisClient

log = logging.getLogger(__name__)

RESULTS_MAXLEN = 100_000
RESULT_KEY_TTL_SECONDS = 7 * 24 * 3600
LEVELS_REFRESH_SECONDS = 10.0
CONSUMER_PRUNE_IDLE_MS = 24 * 3600 * 1000

# KEYS: result key, results stream, events stream, job stream
# ARGV: result JSON, event JSON, result TTL, results maxlen, events maxlen, events TTL, group, entry id,
#       result field, event field
_FINISH = """
local published = 0
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', ARGV[9], ARGV[1])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', ARGV[10], ARGV[2])
  redis.call('EXPIRE', KEYS[3], ARGV[6])
  published = 1
end
redis.call('XACK', KEYS[4], ARGV[7], ARGV[8])
return published
"""

# KEYS: result key, cancel key, events stream
# ARGV: started event JSON, events maxlen, events TTL, event field
_BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'done' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'cancelled' end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return 'run'
"""


@dataclass
class Delivery:
    """One job stream entry held by this consumer.

    ``request`` is None when the entry could not be decoded; ``error`` then says
    why and ``job_id`` is recovered from the raw JSON where possible.
    ``deliveries`` counts how often the group handed this entry out (1 = first try).
    """

    stream: str
    level: str
    entry_id: str
    job_id: str
    request: JobRequest | None
    deliveries: int = 1
    error: str = ""
    claimed_at: float = field(default_factory=time.time)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class JobQueue:
    """Claim, heartbeat, events and results of one consumer (one worker process)."""

    def __init__(
        self,
        client: RedisClient,
        keys: StreamKeys,
        consumer: str,
        *,
        visibility_timeout: float = 60.0,
        block_ms: int = 1000,
        batch: int = 1,
    ) -> None:
        self.client = client
        self.keys = keys
        self.consumer = consumer
        self.visibility_ms = int(visibility_timeout * 1000)
        self.block_ms = block_ms
        self.batch = batch
        self.levels: dict[str, float] = {}
        self._pass: dict[str, float] = {}
        self._levels_read_at = 0.0
        # Entries only become stale after the visibility timeout, so looking for them
        # every quarter of it (at most every second) delays a takeover by <= 25%.
        self._reclaim_every = min(1.0, visibility_timeout / 4)
        self._reclaimed_at = float("-inf")
        self._beat_at = time.monotonic()
        self._buffer: list[Delivery] = []
        self._held: dict[str, Delivery] = {}
        self._lock = asyncio.Lock()
        self._finish = client.register_script(_FINISH)
        self._begin = client.register_script(_BEGIN)

    # -- set-up -----------------------------------------------------------------

    async def setup(self) -> None:
        """Read the level registry, create the consumer groups (idempotent), prune dead consumers."""
        await self._refresh_levels(force=True)
        await self.prune_consumers()

    async def prune_consumers(self, idle_ms: int = CONSUMER_PRUNE_IDLE_MS) -> list[str]:
        """Delete consumers with nothing pending that have been idle for ``idle_ms``.

        Consumer names carry the process id, so every restart adds one; the
        ones holding pending entries are kept (their jobs are still to be taken over).
        """
        pruned = []
        for level in self.levels:
            stream = self.keys.jobs(level)
            for info in await self.client.xinfo_consumers(stream, WORKER_GROUP):
                name = _text(info["name"])
                if info["pending"] == 0 and info["idle"] >= idle_ms and name != self.consumer:
                    await self.client.xgroup_delconsumer(stream, WORKER_GROUP, name)
                    pruned.append(name)
        return pruned

    async def _refresh_levels(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._levels_read_at < LEVELS_REFRESH_SECONDS:
            return
        levels = await read_levels(self.client, self.keys)
        if set(levels) != set(self.levels):
            await ensure_groups(self.client, self.keys, levels)
        floor = min(self._pass.values(), default=0.0)
        self._pass = {name: self._pass.get(name, floor) for name in levels}
        self.levels = levels
        self._levels_read_at = now

    # -- claiming ---------------------------------------------------------------

    async def claim(self) -> Delivery | None:
        """The next job for this consumer, or None after ``block_ms`` with nothing to do."""
        async with self._lock:
            if self._buffer:
                return self._buffer.pop(0)
            await self._refresh_levels()
            delivery = None
            if time.monotonic() - self._reclaimed_at >= self._reclaim_every:
                self._reclaimed_at = time.monotonic()
                delivery = await self._reclaim_stale()
            delivery = delivery or await self._read_fair()
            if delivery is None:
                delivery = await self._read_blocking()
            return delivery

    async def _reclaim_stale(self) -> Delivery | None:
        for level in self.levels:
            stream = self.keys.jobs(level)
            try:
                reply = await self.client.xautoclaim(
                    stream, WORKER_GROUP, self.consumer, self.visibility_ms, "0-0", count=1
                )
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await ensure_groups(self.client, self.keys, self.levels)
                    continue
                raise
            entries = reply[1]
            for entry_id, fields in entries:
                if fields is None:  # deleted while pending (trimmed)
                    continue
                pending = await self.client.xpending_range(stream, WORKER_GROUP, min=entry_id, max=entry_id, count=1)
                deliveries = int(pending[0]["times_delivered"]) if pending else 2
                log.warning(
                    "took over job entry %s of %s after the visibility timeout (delivery %d)",
                    _text(entry_id),
                    level,
                    deliveries,
                )
                return self._hold(self._delivery(stream, level, entry_id, fields, deliveries))
        return None

    def _order(self) -> list[str]:
        """Levels by stride pass (lowest first), ties to the larger weight."""
        return sorted(self.levels, key=lambda name: (self._pass[name], -self.levels[name], name))

    def _served(self, level: str, empty: list[str]) -> None:
        current = self._pass[level]
        self._pass[level] = current + 1.0 / max(self.levels[level], 1e-6)
        for name in empty:  # an idle level banks no credit
            self._pass[name] = max(self._pass[name], current)

    async def _read_fair(self) -> Delivery | None:
        """Read from the level whose turn it is; up to ``batch`` entries, the extra ones held in a buffer."""
        empty: list[str] = []
        for level in self._order():
            stream = self.keys.jobs(level)
            reply = stream_reply(
                await self.client.xreadgroup(WORKER_GROUP, self.consumer, {stream: ">"}, count=self.batch)
            )
            if reply and reply[0][1]:
                for entry_id, fields in reply[0][1]:
                    self._served(level, empty)
                    self._buffer.append(self._hold(self._delivery(stream, level, entry_id, fields, 1)))
                return self._buffer.pop(0)
            empty.append(level)
        return None

    async def _read_blocking(self) -> Delivery | None:
        streams: dict[KeyT, StreamIdT] = {self.keys.jobs(level): ">" for level in self._order()}
        # the in-process stand-in blocks like Redis too (housify_common.redis)
        reply = stream_reply(
            await self.client.xreadgroup(WORKER_GROUP, self.consumer, streams, count=1, block=self.block_ms)
        )
        by_stream = {self.keys.jobs(level): level for level in self.levels}
        for stream, entries in reply:
            stream = _text(stream)
            for entry_id, fields in entries:
                # Several streams may answer at once; the extra entries are held (and heartbeated) until served.
                self._served(by_stream[stream], [])
                self._buffer.append(self._hold(self._delivery(stream, by_stream[stream], entry_id, fields, 1)))
        return self._buffer.pop(0) if self._buffer else None

    def _delivery(self, stream: str, level: str, entry_id: Any, fields: dict, deliveries: int) -> Delivery:
        raw = fields.get(JOB_FIELD.encode(), fields.get(JOB_FIELD))
        entry = _text(entry_id)
        try:
            request = decode_request(raw if raw is not None else b"")
            return Delivery(stream, level, entry, request.job_id, request, deliveries)
        except (msgspec.DecodeError, TypeError) as exc:
            return Delivery(
                stream,
                level,
                entry,
                _loose_job_id(raw) or f"entry-{entry}",
                None,
                deliveries,
                error=f"invalid job request: {exc}",
            )

    def _hold(self, delivery: Delivery) -> Delivery:
        self._held[delivery.entry_id] = delivery
        return delivery

    # -- while running ----------------------------------------------------------

    async def heartbeat(self) -> int:
        """Reset the idle time of every entry this consumer holds; returns how many.

        When this heartbeat comes later than the visibility timeout (event loop
        stalled), another consumer may have taken an entry over: those are left
        to it rather than claimed back (``XCLAIM`` takes from any owner).
        """
        late = time.monotonic() - self._beat_at > self.visibility_ms / 1000
        self._beat_at = time.monotonic()
        by_stream: dict[str, list[StreamIdT]] = {}
        for delivery in list(self._held.values()):
            if late and not await self._still_ours(delivery):
                log.warning("job %s was taken over by another worker during a stall", delivery.job_id)
                self._held.pop(delivery.entry_id, None)
                continue
            by_stream.setdefault(delivery.stream, []).append(delivery.entry_id)
        for stream, ids in by_stream.items():
            await self.client.xclaim(stream, WORKER_GROUP, self.consumer, 0, ids, justid=True)
        return sum(len(ids) for ids in by_stream.values())

    async def _still_ours(self, delivery: Delivery) -> bool:
        pending = await self.client.xpending_range(
            delivery.stream, WORKER_GROUP, min=delivery.entry_id, max=delivery.entry_id, count=1
        )
        return bool(pending) and _text(pending[0]["consumer"]) == self.consumer

    async def emit_and_check_cancel(self, job_id: str, events: list[JobEvent]) -> bool:
        """Append ``events`` to the job's (bounded, expiring) event stream and read its cancellation flag.

        One round trip; True when the job has been flagged for cancellation.
        """
        stream = self.keys.events(job_id)
        async with self.client.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(stream, {EVENT_FIELD: encode(event)}, maxlen=EVENTS_MAXLEN, approximate=True)
            pipe.expire(stream, EVENTS_TTL_SECONDS)
            pipe.exists(self.keys.cancel(job_id))
            *_, flagged = await pipe.execute()
        return bool(flagged)

    async def begin(self, job_id: str, started: JobEvent) -> str:
        """``done`` (result already out), ``cancelled`` (flagged), or ``run`` after appending ``started``."""
        keys = [self.keys.result(job_id), self.keys.cancel(job_id), self.keys.events(job_id)]
        return _text(
            await self._begin(keys=keys, args=[encode(started), EVENTS_MAXLEN, EVENTS_TTL_SECONDS, EVENT_FIELD])
        )

    # -- finishing --------------------------------------------------------------

    async def finish(self, delivery: Delivery, result: JobResult, event: JobEvent) -> bool:
        """Publish ``result`` and the terminal ``event`` and acknowledge the entry, atomically.

        Returns False when a result for this job id was already published (then
        only the acknowledgement happens).
        """
        keys = [
            self.keys.result(delivery.job_id),
            self.keys.results(),
            self.keys.events(delivery.job_id),
            delivery.stream,
        ]
        args: list[EncodableT] = [
            encode(result),
            encode(event),
            RESULT_KEY_TTL_SECONDS,
            RESULTS_MAXLEN,
            EVENTS_MAXLEN,
            EVENTS_TTL_SECONDS,
            WORKER_GROUP,
            delivery.entry_id,
        ]
        args += [RESULT_FIELD, EVENT_FIELD]
        published = bool(await self._finish(keys=keys, args=args))
        if not published:
            log.info("result of job %s was already published; acknowledged only", delivery.job_id)
        self._held.pop(delivery.entry_id, None)
        return published

    async def ack(self, delivery: Delivery) -> None:
        """Acknowledge ``delivery`` without publishing anything."""
        await self.client.xack(delivery.stream, WORKER_GROUP, delivery.entry_id)
        self._held.pop(delivery.entry_id, None)

    def release(self, delivery: Delivery) -> None:
        """Stop heartbeating ``delivery`` without acknowledging it, so it goes stale and is taken over."""
        self._held.pop(delivery.entry_id, None)


def _loose_job_id(raw: Any) -> str | None:
    try:
        value = json.loads(raw).get("job_id")
    except (TypeError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None
