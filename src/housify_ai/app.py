"""The AI server's internal HTTP API (docs/ai-server.md): short calls behind the AI load balancer.

* ``GET /health`` — liveness: ``{"status": "ok"}``.
* ``GET /models`` — the prompt assistant loaded here, the diffusion models the
  queue workers report (device, dtype, memory; from the workers registry in
  Redis), this process's resident memory, and ``tasks``: each registered task
  ``available`` or not, with the ``reason`` the workers give (a runtime that
  could not load, and the fix; :mod:`housify_ai.availability`).
* ``POST /prompts/assist`` — :class:`PromptAssistRequest` ->
  :class:`PromptAssistResponse`; 400 naming the field for bad input, 503 when
  the model gives no usable answer.

With ``HOUSIFY_AI_API_TOKEN`` set, every route but ``/health`` answers 401
unless the request carries ``Authorization: Bearer <that token>`` (compared in
constant time): the network's rules stay the first line, this is the second
(OWASP ASVS 4.0 §1.2.2, §2.10: components authenticate each other; issue 21 "Also").

Image jobs do not come here: they go through the queue (long calls).
"""

from __future__ import annotations

import hmac
import logging
import resource
import time
from typing import Any

import msgspec
from litestar import Litestar, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, ServiceUnavailableException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from housify_ai.assistant import AssistantUnavailable, PromptAssistant
from housify_ai.availability import TaskAvailability, availability, live
from housify_ai.contract import PromptAssistRequest, PromptAssistResponse, StreamKeys
from housify_ai.settings import AISettings

log = logging.getLogger(__name__)


class ModelsResponse(msgspec.Struct):
    models: list[dict[str, Any]]
    workers: list[dict[str, Any]]
    max_rss_bytes: int
    redis: str
    tasks: list[TaskAvailability] = msgspec.field(default_factory=list)
    """Each registered task against the live workers: ``available`` or not with the ``reason`` they report."""


@get("/health", operation_id="health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/models", operation_id="listModels")
async def list_models(
    assistant: NamedDependency[PromptAssistant], settings: NamedDependency[AISettings], redis: NamedDependency[Any]
) -> ModelsResponse:
    workers: list[dict[str, Any]] = []
    state = "ok"
    try:
        raw = await redis.hgetall(StreamKeys(settings.redis_prefix).workers())
        workers = sorted((msgspec.json.decode(v) for v in raw.values()), key=lambda w: w.get("consumer", ""))
    except Exception as exc:  # noqa: BLE001 - Redis down: the models of this process are still worth showing
        log.error("GET /models: cannot read the workers registry: %s", exc)
        state = "unavailable"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tasks = availability(live(workers)) if state == "ok" else []
    return ModelsResponse(models=[assistant.describe()], workers=workers, max_rss_bytes=rss, redis=state, tasks=tasks)


@post("/prompts/assist", operation_id="assistPrompt", status_code=200)
async def assist_prompt(
    data: JSONBody[PromptAssistRequest], assistant: NamedDependency[PromptAssistant]
) -> PromptAssistResponse:
    started = time.perf_counter()
    try:
        answer = await assistant.assist(data)
    except AssistantUnavailable as exc:
        log.error("POST /prompts/assist: %s", exc)
        raise ServiceUnavailableException(detail=str(exc)) from exc
    log.info("prompt assist in %.2f s", time.perf_counter() - started)
    return answer


def _token_guard(token: str) -> Any:
    """A Litestar guard: 401 unless ``Authorization: Bearer <token>``; ``None`` when no token is configured."""
    if not token:
        return None
    expected = f"Bearer {token}".encode()

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope["path"] == "/health":
            return
        sent = connection.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            raise NotAuthorizedException("the AI server's internal API needs its token (HOUSIFY_AI_API_TOKEN)")

    return guard


def create_app(settings: AISettings, *, assistant: PromptAssistant | None = None, redis: Any = None) -> Litestar:
    """The internal API; loads the GGUF model now unless ``assistant`` is given.

    Raises:
        housify_ai.errors.ModelLoadError: the LLM file is missing or unreadable.
    """
    from housify_common.redis import redis_from_url

    assistant = assistant or PromptAssistant(
        settings.llm_model_path,
        threads=settings.ai_llm_threads,
        context=settings.ai_llm_context,
        max_tokens=settings.ai_llm_max_tokens,
    )
    client = redis if redis is not None else redis_from_url(settings.redis_url)

    async def close_redis() -> None:
        if redis is None:
            await client.aclose()

    guard = _token_guard(settings.ai_api_token)
    return Litestar(
        route_handlers=[health, list_models, assist_prompt],
        guards=[guard] if guard else [],
        dependencies={
            "assistant": Provide(lambda: assistant, sync_to_thread=False, use_cache=True),
            "settings": Provide(lambda: settings, sync_to_thread=False, use_cache=True),
            "redis": Provide(lambda: client, sync_to_thread=False, use_cache=True),
        },
        on_shutdown=[close_redis],
    )
