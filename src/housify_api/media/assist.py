"""``POST /prompts/assist``: forwards to the AI server's internal API (docs/ai-server.md).

The LLM runs on housify-ai behind its internal load balancer; this is a short
synchronous call with a timeout (``HOUSIFY_AI_TIMEOUT_SECONDS``). When the AI
server is not configured, unreachable, slow or failing, the answer is 503 with
a message saying so (and a log line); a 4xx from the AI server (an idea it
refuses) is passed on as 422. Each call is recorded in ``service_calls``.
"""

from __future__ import annotations

import datetime as dt
import logging

import httpx
import msgspec
from litestar.exceptions import HTTPException, ServiceUnavailableException

from housify_ai.contract import PromptAssistRequest, PromptAssistResponse
from housify_api.auth.identity import AuthUser
from housify_api.media.catalog import presets
from housify_api.usage import record_service_call

log = logging.getLogger("housify.media.assist")

SERVICE = "prompt_assist"


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
