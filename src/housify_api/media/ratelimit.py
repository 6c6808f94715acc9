"""Per-user ``requests_hour`` limit on generation jobs (docs/design.md "Subscription levels"), a rolling hour in Redis.

A sliding-window log: one sorted-set member per admitted job (its job id),
scored by its Unix time. One ``MULTI``/``EXEC`` transaction drops members older
than the window, adds the request's members and counts; a request that finds
itself over the limit removes its own members again, so a batch (``count`` 1-4)
is admitted whole or not at all. Every admitted request was counted in a
transaction that saw all earlier ones, so concurrent requests can never admit
more than ``limit`` jobs in any window (a burst may briefly refuse one too
many, never admit one too many). Only plain commands are used — no Lua — so
the embedded fakeredis stand-in behaves like Redis.

A job that a time bound ended (``housify_ai.contract.JobResult.expired``) is
uncounted by its id (:func:`release`).

Headers follow Litestar's ``RateLimitMiddleware`` (IETF draft
"RateLimit header fields for HTTP"): ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds until the next counted
job leaves the window), plus ``Retry-After`` (RFC 9110 §10.2.3) on 429: the
seconds until the whole refused batch fits.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import time
from dataclasses import dataclass

from housify_common.redis import RedisClient

WINDOW_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Decision:
    """Outcome of :func:`take`.

    ``allowed``; the ``limit``; ``remaining`` — after this request when allowed, else what is left
    now (the refused request counts for nothing); ``reset_after`` — seconds until the oldest counted
    job leaves the window (one more becomes free); ``needed`` — jobs this request asked for;
    ``retry_after`` — when refused, seconds until all ``needed`` fit (None: more than ``limit``,
    they never do).
    """

    allowed: bool
    limit: int
    remaining: int
    reset_after: int
    needed: int = 1
    retry_after: int | None = None

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after if self.retry_after is not None else self.reset_after)
        return headers

    def refusal(self, level: str, *, now: float | None = None) -> str:
        """The 429 text: how many are left, what was asked, when the next one frees and when all fit."""
        now = time.time() if now is None else now
        asked = "" if self.needed == 1 else f", this request needs {self.needed}"
        text = f"your level ({level}) allows {self.limit} jobs per hour: {self.remaining} left{asked}; "
        if self.retry_after is None:
            return text + f"ask for at most {self.limit} at once"
        text += f"the next frees in {duration(self.reset_after)} ({clock(now + self.reset_after)})"
        if self.needed > 1 and self.retry_after != self.reset_after:
            text += f", all {self.needed} in {duration(self.retry_after)} ({clock(now + self.retry_after)})"
        return text


def duration(seconds: int) -> str:
    """``1 h 2 min``, ``20 min 34 s``, ``45 s``."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def clock(unix: float) -> str:
    """``12:34 UTC``."""
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%H:%M UTC")


async def take(
    client: RedisClient,
    key: str,
    limit: int,
    *,
    members: list[str] | None = None,
    window: int = WINDOW_SECONDS,
    now: float | None = None,
) -> Decision:
    """Count ``members`` (default: one anonymous request) under ``key`` if they all fit in ``limit`` over
    the last ``window`` seconds; otherwise count none."""
    now = time.time() if now is None else now
    members = members or [f"{now:.6f}:{secrets.token_hex(4)}"]
    needed = len(members)
    async with client.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now - window)
        pipe.zadd(key, dict.fromkeys(members, now))
        pipe.zcard(key)
        pipe.zrange(key, 0, needed, withscores=True)
        pipe.expire(key, window)
        _, _, count, oldest, _ = await pipe.execute()
    frees_at = [float(score) + window - now for _member, score in oldest]
    reset_after = max(1, math.ceil(frees_at[0])) if frees_at else window
    if count <= limit:
        return Decision(allowed=True, limit=limit, remaining=limit - count, reset_after=reset_after, needed=needed)
    await client.zrem(key, *members)
    before = count - needed
    # The oldest ``count - limit`` must age out first. Members of concurrent requests still in the set
    # can make that more than were read: then the last one read is the best estimate.
    must_leave = min(count - limit, len(frees_at))
    retry_after = max(1, math.ceil(frees_at[must_leave - 1])) if needed <= limit else None
    return Decision(
        allowed=False,
        limit=limit,
        remaining=max(0, limit - before),
        reset_after=reset_after,
        needed=needed,
        retry_after=retry_after,
    )


async def give_back(client: RedisClient, key: str, members: list[str] | None = None) -> None:
    """Uncount ``members`` (jobs that could not be queued after all); without them, the newest request."""
    if members:
        await client.zrem(key, *members)
    else:
        await client.zpopmax(key)


async def release(client: RedisClient, key: str, member: str) -> bool:
    """Uncount one job by its id (it was ended by a time bound); True when it was counted."""
    return bool(await client.zrem(key, member))


@dataclass(frozen=True, slots=True)
class Usage:
    """What :func:`peek` finds: ``used`` of ``limit`` in the window, ``remaining``, and ``next_free_in``
    seconds until the oldest counted job leaves it (None when nothing is counted)."""

    limit: int
    used: int
    remaining: int
    next_free_in: int | None


async def peek(
    client: RedisClient, key: str, limit: int, *, window: int = WINDOW_SECONDS, now: float | None = None
) -> Usage:
    """The count under ``key`` without taking anything."""
    now = time.time() if now is None else now
    async with client.pipeline(transaction=False) as pipe:
        pipe.zcount(key, now - window, "+inf")
        pipe.zrangebyscore(key, now - window, "+inf", start=0, num=1, withscores=True)
        used, oldest = await pipe.execute()
    next_free = max(1, math.ceil(float(oldest[0][1]) + window - now)) if oldest else None
    return Usage(limit=limit, used=int(used), remaining=max(0, limit - int(used)), next_free_in=next_free)
