"""The Redis client for a ``HOUSIFY_REDIS_URL``, with a key prefix.

With no URL (the embedded default) the client is ``fakeredis``'s in-process
server, shared by every client made in this process, so the API and an AI
worker running in one ``housify standalone`` process see the same streams.
Every key Housify writes goes through :meth:`RedisKeys.key`, so a test run (or
a second deployment on one Redis) can use its own ``HOUSIFY_REDIS_PREFIX`` and
clean up after itself.
"""

from __future__ import annotations

from functools import lru_cache

import redis.asyncio as aioredis


@lru_cache(maxsize=1)
def _fake_server():  # noqa: ANN202 - fakeredis.FakeServer; imported lazily
    import fakeredis

    return fakeredis.FakeServer()


def redis_from_url(url: str | None, *, decode_responses: bool = False) -> aioredis.Redis:
    """An asyncio Redis client; the in-process fakeredis server when ``url`` is empty."""
    if not url:
        import fakeredis

        return fakeredis.FakeAsyncRedis(server=_fake_server(), decode_responses=decode_responses)
    return aioredis.Redis.from_url(url, decode_responses=decode_responses, health_check_interval=30)


class RedisKeys:
    """Builds namespaced keys: ``RedisKeys("housify:").key("jobs", id)`` -> ``housify:jobs:<id>``."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "housify:") -> None:
        self.prefix = prefix if prefix.endswith(":") else prefix + ":"

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(part) for part in parts)
