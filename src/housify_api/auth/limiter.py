"""Failed-login limiting per account and per client IP (docs/design.md "Security rules", brute force; OWASP Authentication Cheat Sheet).

A fixed window in Redis: each failed login increments ``login-fail:acct:<email>``
and ``login-fail:ip:<ip>``; the window starts at the first failure and lasts
``login_lockout_seconds``. Once a counter reaches its limit every further attempt
(right password or not) gets 429 with ``Retry-After`` = seconds left in the
window. A successful login clears the account counter (not the IP's, so one
attacker cannot reset it with an own account).
"""

from __future__ import annotations

from litestar.exceptions import TooManyRequestsException
from redis.asyncio import Redis

from housify_common.redis import RedisKeys


class LoginLimiter:
    def __init__(self, redis: Redis, keys: RedisKeys, *, max_account: int, max_ip: int, window_seconds: int) -> None:
        self._redis, self._keys = redis, keys
        self._max_account, self._max_ip, self._window = max_account, max_ip, window_seconds

    def _names(self, email: str, ip: str) -> tuple[str, str]:
        return self._keys.key("login-fail", "acct", email.lower()), self._keys.key("login-fail", "ip", ip)

    async def check(self, email: str, ip: str) -> None:
        """Raises ``TooManyRequestsException`` (429 + ``Retry-After``) when either counter is at its limit."""
        account_key, ip_key = self._names(email, ip)
        account, per_ip = await self._redis.mget(account_key, ip_key)
        for key, count, limit, what in (
            (account_key, account, self._max_account, "this account"),
            (ip_key, per_ip, self._max_ip, "your address"),
        ):
            if count is not None and int(count) >= limit:
                retry = max(1, await self._redis.ttl(key))
                raise TooManyRequestsException(
                    f"too many failed logins for {what}; try again in {retry} s",
                    headers={"Retry-After": str(retry)},
                )

    async def failed(self, email: str, ip: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in self._names(email, ip):
                pipe.incr(key)
                pipe.expire(key, self._window, nx=True)
            await pipe.execute()

    async def succeeded(self, email: str) -> None:
        await self._redis.delete(self._names(email, "")[0])
