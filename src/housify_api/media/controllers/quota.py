"""``GET /users/me/quota``: the caller's jobs left this hour and storage, read by the web app on load."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.exceptions import ServiceUnavailableException
from redis.exceptions import RedisError

from housify_api.auth.identity import AuthUser
from housify_api.media import quota, ratelimit
from housify_api.media.queue import Queue
from housify_api.plans.service import Level
from housify_api.system.error_docs import documented

log = logging.getLogger("housify.media")


class QuotaOut(msgspec.Struct, kw_only=True):
    """The caller's limits now.

    ``limit`` jobs per rolling ``window_seconds`` (the level's ``requests_hour``), ``used`` and
    ``remaining`` of them; ``next_free_in`` (seconds) / ``next_free_at`` — when the oldest counted job
    leaves the window, i.e. one more becomes free (``null`` when none is counted). Storage in bytes.
    A ``POST /jobs`` with ``count`` above ``remaining`` is refused whole (429).
    """

    level: str
    limit: int
    used: int
    remaining: int
    window_seconds: int
    next_free_in: int | None
    next_free_at: dt.datetime | None
    storage_used_bytes: int
    storage_limit_bytes: int


@get(
    "/users/me/quota",
    operation_id="get_my_quota",
    tags=["jobs"],
    raises=[documented(503, "Redis unavailable")],
)
async def get_my_quota(
    request: Request[AuthUser, Any, Any], queue: NamedDependency[Queue], limits: NamedDependency[Level]
) -> QuotaOut:
    """Jobs left this hour (and when the next frees) and storage used, for the caller's level."""
    now = time.time()
    try:
        usage = await ratelimit.peek(queue.client, queue.hour_key(request.user.id), limits.requests_hour, now=now)
    except RedisError as exc:
        log.error("quota: Redis unavailable while reading the hourly count: %s", exc)
        raise ServiceUnavailableException("job counter unavailable (Redis); try again shortly") from exc
    next_at = dt.datetime.fromtimestamp(now + usage.next_free_in, dt.UTC) if usage.next_free_in else None
    return QuotaOut(
        level=limits.name,
        limit=usage.limit,
        used=usage.used,
        remaining=usage.remaining,
        window_seconds=ratelimit.WINDOW_SECONDS,
        next_free_in=usage.next_free_in,
        next_free_at=next_at,
        storage_used_bytes=await quota.used_bytes(request.user.id),
        storage_limit_bytes=limits.storage_limit_bytes,
    )
