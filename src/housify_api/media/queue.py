"""The Redis side of jobs: one handle for the job queue, shared by the media services.

:class:`Queue` bundles the Redis client, the job contract's stream keys
(``housify_ai.contract.StreamKeys``) and Housify's key namer, and answers the
questions about the AI workers that need only Redis: which workers are alive,
a job's newest event, a user's hourly counter key. It holds no database state;
the use cases (:mod:`housify_api.media.jobs`, the results consumer, the events
WebSocket) take it as a collaborator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec

from housify_ai.contract import JobEvent, StreamKeys, known_event
from housify_common.redis import RedisClient, RedisKeys

#: A worker whose heartbeat is older than this counts as gone (the AI workers
#: refresh ``ai:workers`` every few seconds while idle or busy).
WORKER_STALE_SECONDS = 60.0
#: Newest entries of a job's event stream searched for one this build can read.
LATEST_EVENTS = 8


@dataclass(frozen=True, slots=True)
class Queue:
    """The Redis side of jobs: the client, the contract's stream keys and Housify's key namer."""

    client: RedisClient
    streams: StreamKeys
    keys: RedisKeys

    def hour_key(self, user_id: UUID) -> str:
        """The key of ``user_id``'s ``requests_hour`` window (``housify_api.media.ratelimit``)."""
        return self.keys.key("media", "jobs-hour", user_id)

    async def live_workers(self) -> list[dict[str, Any]]:
        """The status (``models`` they loaded, ...) of the AI workers that sent a heartbeat in the last
        :data:`WORKER_STALE_SECONDS`. Raises ``RedisError`` when Redis is down."""
        raw = await self.client.hgetall(self.streams.workers())
        now, alive = time.time(), []
        for value in raw.values():
            try:
                status = msgspec.json.decode(value)
                seen = float(status.get("seen_at", 0))
            except (msgspec.DecodeError, AttributeError, TypeError, ValueError):
                continue
            if now - seen < WORKER_STALE_SECONDS:
                alive.append(status)
        return alive

    async def workers_online(self) -> int:
        """How many AI workers sent a heartbeat in the last :data:`WORKER_STALE_SECONDS`."""
        return len(await self.live_workers())

    async def latest_event(self, job_id: UUID) -> JobEvent | None:
        """The newest event of a job that this build can read (``None`` when its stream is gone or empty);
        an unknown one (a newer build's type) is skipped with a log line (``contract.known_event``)."""
        entries = await self.client.xrevrange(self.streams.events(str(job_id)), count=LATEST_EVENTS)
        for entry_id, fields in entries or []:
            event = known_event(entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id), fields or {})
            if event is not None:
                return event
        return None
