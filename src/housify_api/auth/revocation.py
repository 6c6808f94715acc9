"""Access-token revocation in Redis, checked on every authenticated request (DESIGN.md §3).

Three kinds of entries, each expiring when the last token it could match has
expired (so the denylist never grows without bound — the flaw of seed 000 5.6.7):

- ``revoked:jti:<jti>``: one access token (logout), TTL = the token's remaining life.
- ``revoked:sid:<sid>``: every access token of a session / refresh-token family
  (logout, logout-all, password change, refresh reuse), TTL = access-token lifetime.
- ``revoked:user:<id>`` = a Unix time (milliseconds resolution, like ``iat``):
  tokens of that user issued before it are refused; set when an admin changes
  the account or its plan changes, so the client refreshes and gets claims
  that match.

One ``MGET`` per request reads all three.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio import Redis

from housify_common.redis import RedisKeys


class Revocations:
    def __init__(self, redis: Redis, keys: RedisKeys, access_ttl_seconds: int) -> None:
        self._redis, self._keys, self._ttl = redis, keys, access_ttl_seconds

    async def revoke_token(self, jti: str, exp: float) -> None:
        ttl = int(exp - time.time()) + 1
        if ttl > 0:
            await self._redis.set(self._keys.key("revoked", "jti", jti), b"1", ex=ttl)

    async def revoke_sessions(self, session_ids: Iterable[object]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid in session_ids:
                pipe.set(self._keys.key("revoked", "sid", sid), b"1", ex=self._ttl + 1)
            await pipe.execute()

    async def revoke_user_tokens(self, user_id: object) -> None:
        await self._redis.set(self._keys.key("revoked", "user", user_id), f"{time.time():.3f}", ex=self._ttl + 1)

    async def reason(self, *, jti: str, sid: str, sub: str, iat: float) -> str | None:
        """Why this access token is refused, or ``None`` when it is still good."""
        by_jti, by_sid, cutoff = await self._redis.mget(
            self._keys.key("revoked", "jti", jti),
            self._keys.key("revoked", "sid", sid),
            self._keys.key("revoked", "user", sub),
        )
        if by_jti is not None:
            return "token has been revoked (logged out)"
        if by_sid is not None:
            return "token has been revoked (session ended)"
        if cutoff is not None and iat < float(cutoff):
            return "token is outdated: the account changed; refresh to get a new access token"
        return None
