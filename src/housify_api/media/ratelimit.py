"""Per-user ``requests_hour`` limit on generation jobs (docs/design.md "Subscription levels"), a rolling hour in Redis.

A sliding-window log: one sorted-set member per admitted job, scored by its
Unix time. One ``MULTI``/``EXEC`` transaction drops members older than the
window, adds the new one and counts; a request that finds itself over the
limit removes its own member again. Every admitted request was counted in a
transaction that saw all earlier ones, so concurrent requests can never admit
more than ``limit`` jobs in any window (a burst may briefly refuse one too
many, never admit one too many). Only plain commands are used — no Lua — so
the embedded fakeredis stand-in behaves like Redis.

Headers follow Litestar's ``RateLimitMiddleware`` (IETF draft
"RateLimit header fields for HTTP"): ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds), plus ``Retry-After``
(RFC 9110 §10.2.3) on 429.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

WINDOW_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of :func:`take`: ``allowed``, the ``limit``, what ``remaining`` after this
    request, and ``reset_after`` seconds until the oldest counted request leaves the window."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


async def take(
    client: Any, key: str, limit: int, *, window: int = WINDOW_SECONDS, now: float | None = None
) -> Decision:
    """Count one request under ``key`` if fewer than ``limit`` were counted in the last ``window`` seconds."""
    now = time.time() if now is None else now
    member = f"{now:.6f}:{secrets.token_hex(4)}"
    async with client.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now - window)
        pipe.zadd(key, {member: now})
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.expire(key, window)
        _, _, count, oldest, _ = await pipe.execute()
    oldest_at = float(oldest[0][1]) if oldest else now
    reset_after = max(1, math.ceil(oldest_at + window - now))
    if count > limit:
        await client.zrem(key, member)
        return Decision(allowed=False, limit=limit, remaining=0, reset_after=reset_after)
    return Decision(allowed=True, limit=limit, remaining=limit - count, reset_after=reset_after)


async def give_back(client: Any, key: str) -> None:
    """Uncount the newest request (the job could not be queued after all)."""
    await client.zpopmax(key)
