"""Password-guess limiting: back-off per (account, client), a cap per account and per client.

Rules (OWASP Authentication Cheat Sheet, "Protect against automated attacks";
OWASP ASVS 4.0 §2.2.1: "ever increasing delays between attempts", "no more than
100 failed attempts per hour ... on a single account"; docs/security.md):

- **Per (account, client)**: the first ``free_attempts`` wrong passwords cost
  nothing; from then on each attempt must wait a growing delay: 1 s, 2 s, 4 s …
  up to ``max_backoff_seconds``. A right password clears the pair. The owner
  on another client (another address) is not slowed by an attacker's guesses.
- **Per account** from all clients: at most ``max_account`` failures per
  ``window_seconds`` (ASVS's 100 an hour), bounding guesses spread over many
  addresses. Only then is the account refused to everyone (429), for the rest
  of the window.
- **Per client** over all accounts: at most ``max_ip`` failures per window
  (credential stuffing from one address). Kept well above what people behind
  one NAT mistype.

Every attempt is *reserved before* the password is hashed, in one Redis
transaction (``INCR`` of all three counters; the pair's gate taken with
``SET NX PX``), and given back when it turns out to be refused or right.
Parallel guesses therefore cannot all pass a check that reads the counters and
only later records the failures: a burst of 120 at one account tries exactly
``free_attempts`` passwords. Only plain commands (no Lua), so the embedded
fakeredis stand-in behaves like Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.exceptions import TooManyRequestsException

from housify_common.redis import RedisClient, RedisKeys


@dataclass(frozen=True, slots=True)
class Attempt:
    """A reserved password attempt: pass it to :meth:`LoginLimiter.succeeded` or :meth:`LoginLimiter.failed`."""

    pair: str
    gate: str
    account: str
    client: str


def _too_many(what: str, retry: int) -> TooManyRequestsException:
    retry = max(1, retry)
    return TooManyRequestsException(
        f"too many failed logins for {what}; try again in {retry} s", headers={"Retry-After": str(retry)}
    )


class LoginLimiter:
    """The three limits above over one Redis client.

    Args:
        free_attempts: wrong passwords per (account, client) before the back-off starts.
        max_backoff_seconds: longest wait between attempts of one (account, client).
        max_account: failed attempts per account (all clients) per window.
        max_ip: failed attempts per client (all accounts) per window.
        window_seconds: how long failures are remembered.
    """

    def __init__(
        self,
        redis: RedisClient,
        keys: RedisKeys,
        *,
        max_account: int,
        max_ip: int,
        window_seconds: int,
        free_attempts: int = 5,
        max_backoff_seconds: int = 900,
    ) -> None:
        self._redis, self._keys = redis, keys
        self._max_account, self._max_ip, self._window = max_account, max_ip, window_seconds
        self._free, self._max_backoff = free_attempts, max_backoff_seconds

    def backoff_ms(self, failures: int) -> int:
        """Milliseconds the next attempt of a pair waits after ``failures`` wrong passwords (0 while free)."""
        if failures < self._free:
            return 0
        return min(self._max_backoff * 1000, 1000 * 2 ** min(failures - self._free, 30))

    async def reserve(self, account: str, client: str) -> Attempt:
        """Count one attempt for ``account`` from ``client`` before its password is checked.

        Raises:
            TooManyRequestsException: 429 with ``Retry-After`` when the pair must still wait, or the
                account's or client's failures reached their cap; nothing is counted then.
        """
        account = account.lower()
        key = self._keys.key
        attempt = Attempt(
            pair=key("login", "pair", account, client),
            gate=key("login", "gate", account, client),
            account=key("login", "acct", account),
            client=key("login", "client", client),
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.pttl(attempt.gate)
            for counter in (attempt.pair, attempt.account, attempt.client):
                pipe.incr(counter)
                pipe.expire(counter, self._window, nx=True)
            gate_ms, pair, _, per_account, _, per_client, _ = await pipe.execute()
        refusal: TooManyRequestsException | None = None
        if gate_ms > 0:
            refusal = _too_many("this account from your address", -(-gate_ms // 1000))
        elif per_account > self._max_account:
            refusal = _too_many("this account", await self._redis.ttl(attempt.account))
        elif per_client > self._max_ip:
            refusal = _too_many("your address", await self._redis.ttl(attempt.client))
        elif (wait := self.backoff_ms(pair)) and not await self._redis.set(attempt.gate, b"1", nx=True, px=wait):
            refusal = _too_many("this account from your address", -(-wait // 1000))
        if refusal is not None:
            await self._give_back(attempt)
            raise refusal
        return attempt

    async def failed(self, attempt: Attempt) -> None:
        """The password was wrong: the reservation stays counted."""

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: the pair starts afresh and the attempt is not a failure."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(attempt.pair, attempt.gate)
            pipe.decr(attempt.account)
            pipe.decr(attempt.client)
            await pipe.execute()

    async def _give_back(self, attempt: Attempt) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for counter in (attempt.pair, attempt.account, attempt.client):
                pipe.decr(counter)
            await pipe.execute()
