"""Per-user upload limits: uploads in a rolling hour and uploads in flight (issue 21 item 3).

Decoding an upload costs far more than storing it (the decoder's processes are
shared by everyone), so one user may have at most ``uploads_in_flight`` uploads
being received or decoded at once and ``uploads_per_hour`` in any rolling hour
(the sliding-window log of :mod:`housify_api.media.ratelimit`). Over either:
429 with ``Retry-After`` (RFC 9110 §10.2.3), before the body is read.
OWASP ASVS 4.0 §11.1.4 (anti-automation against excessive uploads) and §12.1.1.

The in-flight count is a Redis counter per user (so it holds across API
processes); it expires :data:`IN_FLIGHT_TTL_SECONDS` after the last upload
began, so a process that dies mid-upload cannot leave a user blocked for longer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from uuid import UUID

from litestar.exceptions import HTTPException

from housify_api.media import ratelimit
from housify_api.settings import MediaSettings
from housify_common.redis import RedisClient, RedisKeys

IN_FLIGHT_TTL_SECONDS = 300
#: What the client is told to wait when its other uploads are still in flight.
IN_FLIGHT_RETRY_SECONDS = 5


@contextlib.asynccontextmanager
async def upload_slot(
    client: RedisClient, keys: RedisKeys, user_id: UUID, settings: MediaSettings
) -> AsyncIterator[None]:
    """Hold one of the user's upload slots for the body of the ``async with``.

    Raises:
        HTTPException: 429 naming the limit, with ``Retry-After``.
    """
    hour_key = keys.key("media", "uploads-hour", user_id)
    decision = await ratelimit.take(client, hour_key, settings.uploads_per_hour)
    if not decision.allowed:
        raise HTTPException(
            status_code=429,
            detail=f"file: at most {settings.uploads_per_hour} uploads per hour; "
            f"the next is possible in {decision.reset_after} s",
            headers=decision.headers(),
        )
    flight_key = keys.key("media", "uploads-in-flight", user_id)
    async with client.pipeline(transaction=True) as pipe:
        pipe.incr(flight_key)
        pipe.expire(flight_key, IN_FLIGHT_TTL_SECONDS)
        in_flight, _ = await pipe.execute()
    try:
        if in_flight > settings.uploads_in_flight:
            await ratelimit.give_back(client, hour_key)
            raise HTTPException(
                status_code=429,
                detail=f"file: at most {settings.uploads_in_flight} uploads at once; wait for the others to finish",
                headers={"Retry-After": str(IN_FLIGHT_RETRY_SECONDS)},
            )
        yield
    finally:
        await client.decr(flight_key)
