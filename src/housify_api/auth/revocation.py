"""Access-token revocation in Redis, checked on every authenticated request (docs/design.md "Security rules").

Three kinds of entries, each expiring when the last token it could match has
expired (so the denylist never grows without bound, unlike a list of every token ever revoked):

- ``revoked:jti:<jti>``: one access token (logout), TTL = the token's remaining life.
- ``revoked:sid:<sid>``: every access token of a session / refresh-token family
  (logout, logout-all, password change, refresh reuse), TTL = access-token lifetime.
- ``revoked:user:<id>`` = a Unix time (milliseconds resolution, like ``iat``):
  tokens of that user issued before it are refused; set when an admin changes
  the account or its plan changes, so the client refreshes and gets claims
  that match.

All three are read with one ``MGET``. Concurrent requests share it: checks
that arrive within one event-loop iteration are sent as a single ``MGET``
(every request still reads Redis after it arrived, so a revocation is seen by
the next request). On a busy worker this turns many loopback round trips —
whose system calls cost more than the rest of a claims-only request — into one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from housify_common.redis import RedisClient, RedisKeys


class Revocations:
    def __init__(self, redis: RedisClient, keys: RedisKeys, access_ttl_seconds: int) -> None:
        self._redis, self._keys, self._ttl = redis, keys, access_ttl_seconds
        # Key prefixes of the per-request check, built once (``keys.key("revoked", kind, "")``).
        self._jti_prefix, self._sid_prefix, self._user_prefix = (
            keys.key("revoked", kind, "") for kind in ("jti", "sid", "user")
        )
        self._pending: list[tuple[tuple[str, ...], asyncio.Future[list[bytes | str | None]]]] = []

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
        by_jti, by_sid, cutoff = await self._mget(
            (self._jti_prefix + jti, self._sid_prefix + sid, self._user_prefix + sub)
        )
        if by_jti is not None:
            return "token has been revoked (logged out)"
        if by_sid is not None:
            return "token has been revoked (session ended)"
        if cutoff is not None and iat < float(cutoff):
            return "token is outdated: the account changed; refresh to get a new access token"
        return None

    async def _mget(self, keys: tuple[str, ...]) -> list[bytes | str | None]:
        """``MGET keys``, batched with other checks queued in this loop iteration."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[bytes | str | None]] = loop.create_future()
        self._pending.append((keys, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._run(batch))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _run(self, batch: list[tuple[tuple[str, ...], asyncio.Future[list[bytes | str | None]]]]) -> None:
        try:
            values = await self._redis.mget([key for keys, _ in batch for key in keys])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - a Redis outage reaches every waiting request (-> 503)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for keys, future in batch:
            if not future.done():
                future.set_result(values[start : start + len(keys)])
            start += len(keys)
