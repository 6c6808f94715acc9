"""``POST /prompts/assist``: forwards to the AI server's internal API (docs/ai-server.md).

The LLM runs on housify-ai behind its internal load balancer; this is a short
synchronous call with a timeout (``HOUSIFY_AI_TIMEOUT_SECONDS``). When the AI
server is not configured, unreachable, slow or failing, the answer is 503 with
a message saying so (and a log line); a 4xx from the AI server (an idea it
refuses) is passed on as 422. Each call is recorded in ``service_calls``.

Each call is seconds of LLM time on shared CPUs, so :class:`AssistGate`
admits it first (issue 21 item 6; OWASP ASVS 4.0 §11.1.4):

- one call at a time per user (429);
- ``assist_calls_per_job`` x the level's ``requests_hour`` calls per rolling
  hour per user (429 with ``Retry-After``): Free-Tier 30, Pro-Tier 300 by default;
- at most ``assist_concurrency`` calls run at once per API process, and at most
  ``assist_queue`` wait, each at most ``assist_wait_seconds``; beyond that 503
  with ``Retry-After`` at once, instead of everyone waiting 30 s for a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from uuid import UUID

import httpx
import msgspec
from litestar.exceptions import HTTPException, ServiceUnavailableException, TooManyRequestsException

from housify_ai.contract import PromptAssistRequest, PromptAssistResponse
from housify_api.auth.identity import AuthUser
from housify_api.media import ratelimit
from housify_api.media.catalog import presets
from housify_api.plans.service import Level
from housify_api.usage import record_service_call
from housify_common.redis import RedisClient, RedisKeys

log = logging.getLogger("housify.media.assist")

SERVICE = "prompt_assist"
#: Seconds a client is told to wait when the assistant is busy.
BUSY_RETRY_SECONDS = 5


class AssistGate:
    """Admission to the prompt assistant (module docstring); one per API process.

    Args:
        redis, keys: where the per-user hourly counts live (shared by every API process).
        concurrency: calls running at once in this process.
        queue: calls waiting at most in this process.
        wait_seconds: longest wait for a running slot.
        calls_per_job: hourly calls per user = this x the level's ``requests_hour``.
    """

    def __init__(
        self,
        redis: RedisClient,
        keys: RedisKeys,
        *,
        concurrency: int,
        queue: int,
        wait_seconds: float,
        calls_per_job: int,
    ) -> None:
        self._redis, self._keys = redis, keys
        self._slots = asyncio.Semaphore(concurrency)
        self._queue, self._wait, self._per_job = queue, wait_seconds, calls_per_job
        self._waiting = 0
        self._users: set[UUID] = set()

    @contextlib.asynccontextmanager
    async def slot(self, user: AuthUser, level: Level) -> AsyncIterator[None]:
        """Hold a running slot for one call of ``user``.

        Raises:
            TooManyRequestsException: 429: a call of this user is running, or the hourly limit is reached.
            ServiceUnavailableException: 503 with ``Retry-After``: too many calls waiting, or no slot in time.
        """
        if user.id in self._users:
            raise TooManyRequestsException(
                "prompt assistant: one call at a time; wait for the one running",
                headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
            )
        limit = max(1, self._per_job * level.requests_hour)
        key = self._keys.key("media", "assist-hour", user.id)
        decision = await ratelimit.take(self._redis, key, limit)
        if not decision.allowed:
            raise TooManyRequestsException(
                f"prompt assistant: {level.name} allows {limit} calls per hour; "
                f"the next is possible in {decision.reset_after} s",
                headers=decision.headers(),
            )
        self._users.add(user.id)
        try:
            await self._acquire(key)
            try:
                yield
            finally:
                self._slots.release()
        finally:
            self._users.discard(user.id)

    async def _acquire(self, key: str) -> None:
        """A running slot, or 503 (the hourly count given back: the call never ran)."""
        if self._waiting >= self._queue:
            await ratelimit.give_back(self._redis, key)
            raise self._busy(f"{self._waiting} calls are waiting")
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait)
        except TimeoutError:
            await ratelimit.give_back(self._redis, key)
            raise self._busy(f"no call finished within {self._wait:g} s") from None
        finally:
            self._waiting -= 1

    @staticmethod
    def _busy(why: str) -> ServiceUnavailableException:
        log.warning("prompt assistant busy: %s", why)
        return ServiceUnavailableException(
            f"prompt assistant busy ({why}); try again in {BUSY_RETRY_SECONDS} s",
            headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
        )


async def with_preset_labels(body: PromptAssistRequest) -> PromptAssistRequest:
    """``body`` with ``room_type`` and ``style`` replaced by their presets' labels (422 naming the field when unknown)."""
    changes = {}
    for field in ("room_type", "style"):
        value = getattr(body, field)
        if value is not None:
            try:
                changes[field] = (await presets.find(field, value)).label
            except ValueError as exc:
                raise HTTPException(status_code=422, detail=str(exc)) from exc
    return msgspec.structs.replace(body, **changes) if changes else body


async def assist(client: httpx.AsyncClient | None, user: AuthUser, body: PromptAssistRequest) -> PromptAssistResponse:
    """The AI server's suggestion for ``body``.

    ``room_type`` and ``style`` name presets (``GET /presets``); the AI server gets their labels.

    Raises:
        HTTPException: 422 naming ``room_type`` / ``style`` when it is no preset.
        ServiceUnavailableException: AI URL not configured, connection refused, timeout, 5xx or a malformed answer.
        HTTPException: 422 when the AI server refuses the input.
    """
    body = await with_preset_labels(body)
    requested = dt.datetime.now(dt.UTC)
    error: str | None = None
    try:
        if client is None:
            error = "prompt assistant unavailable: HOUSIFY_AI_URL is not configured"
            raise ServiceUnavailableException(error)
        try:
            response = await client.post(
                "/prompts/assist", content=msgspec.json.encode(body), headers={"content-type": "application/json"}
            )
        except httpx.TimeoutException as exc:
            error = f"prompt assistant unavailable: the AI server did not answer within {client.timeout.read} s"
            raise ServiceUnavailableException(error) from exc
        except httpx.HTTPError as exc:
            error = f"prompt assistant unavailable: cannot reach the AI server ({type(exc).__name__})"
            raise ServiceUnavailableException(error) from exc
        if 400 <= response.status_code < 500:
            error = f"the AI server refused the request: {response.text[:300]}"
            raise HTTPException(status_code=422, detail=error)
        if response.status_code != 200:
            error = f"prompt assistant unavailable: the AI server answered {response.status_code}"
            raise ServiceUnavailableException(error)
        try:
            return msgspec.json.decode(response.content, type=PromptAssistResponse)
        except msgspec.DecodeError as exc:
            error = "prompt assistant unavailable: the AI server's answer was malformed"
            raise ServiceUnavailableException(error) from exc
    finally:
        if error:
            log.error("prompt assist for user %s failed: %s", user.id, error)
        await record_service_call(
            SERVICE,
            user.id,
            request_time=requested,
            start_time=requested,
            completion_time=dt.datetime.now(dt.UTC),
            success=error is None,
            error=error,
        )
