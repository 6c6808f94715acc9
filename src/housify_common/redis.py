"""The Redis client for a ``HOUSIFY_REDIS_URL``, with a key prefix.

With no URL (the embedded default) the client is ``fakeredis``'s in-process
server, shared by every client made in this process, so the API and an AI
worker running in one ``housify standalone`` process see the same streams.
Every key Housify writes goes through :meth:`RedisKeys.key`, so a test run (or
a second deployment on one Redis) can use its own ``HOUSIFY_REDIS_PREFIX`` and
clean up after itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import redis.asyncio as aioredis

if TYPE_CHECKING:
    import fakeredis

RedisClient: TypeAlias = aioredis.Redis
"""The asyncio Redis client every service is handed (:func:`redis_from_url`); the in-process
stand-in (``fakeredis.FakeAsyncRedis``) is a subclass of it."""

_Reply = TypeVar("_Reply")

#: How often a blocking stream read on the in-process stand-in looks for new entries.
FAKE_BLOCK_POLL_SECONDS = 0.05


@lru_cache(maxsize=1)
def _fake_server() -> fakeredis.FakeServer:
    import fakeredis

    return fakeredis.FakeServer()


@lru_cache(maxsize=1)
def _blocking_fake_class() -> type[fakeredis.FakeAsyncRedis]:
    """``FakeAsyncRedis`` whose ``XREAD``/``XREADGROUP ... BLOCK`` wait as Redis does.

    Some fakeredis releases answered a blocking stream read at once; a consumer
    that paces itself by the block then spins and takes a whole core. This is
    the one place that guards against it (recent releases already block, and
    then the loop below never runs).
    """
    import fakeredis

    async def _patient(read: Callable[[], Awaitable[_Reply]], block: int | None) -> _Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (block or 0) / 1000
        while True:
            reply = await read()
            if reply or not block or loop.time() >= deadline:
                return reply
            await asyncio.sleep(min(FAKE_BLOCK_POLL_SECONDS, max(0.0, deadline - loop.time())))

    class BlockingFakeAsyncRedis(fakeredis.FakeAsyncRedis):
        async def xread(  # type: ignore[override]
            self, streams: Any, count: int | None = None, block: int | None = None, **kwargs: Any
        ) -> Any:
            parent = super().xread
            return await _patient(lambda: parent(streams, count=count, block=block, **kwargs), block)

        async def xreadgroup(  # type: ignore[override]
            self,
            groupname: Any,
            consumername: Any,
            streams: Any,
            count: int | None = None,
            block: int | None = None,
            **kwargs: Any,
        ) -> Any:
            parent = super().xreadgroup
            return await _patient(
                lambda: parent(groupname, consumername, streams, count=count, block=block, **kwargs), block
            )

    return BlockingFakeAsyncRedis


def redis_from_url(url: str | None, *, decode_responses: bool = False) -> RedisClient:
    """An asyncio Redis client; the in-process fakeredis server when ``url`` is empty."""
    if not url:
        client: RedisClient = _blocking_fake_class()(server=_fake_server(), decode_responses=decode_responses)
        return client
    return aioredis.Redis.from_url(url, decode_responses=decode_responses, health_check_interval=30)


class RedisKeys:
    """Builds namespaced keys: ``RedisKeys("housify:").key("jobs", id)`` -> ``housify:jobs:<id>``."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "housify:") -> None:
        self.prefix = prefix if prefix.endswith(":") else prefix + ":"

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(part) for part in parts)
