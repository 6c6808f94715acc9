"""The AI server's internal HTTP API (docs/ai-server.md): short calls behind the AI load balancer.

* ``GET /health`` — liveness: ``{"status": "ok"}``.
* ``GET /models`` — the prompt assistant loaded here, the diffusion models the
  queue workers report (device, dtype, memory; from the workers registry in
  Redis), this process's resident memory, and ``tasks``: each registered task
  ``available`` or not, with the ``reason`` the workers give (a runtime that
  could not load, and the fix; :mod:`housify_ai.availability`).
* ``GET /ready`` — 200 ``{"status": "ready", "assistant": {...}}`` once the
  prompt assistant has loaded and made one warm-up completion (started in the
  background when the app starts; assist calls wait for it), else 503 with ``status`` ``warming up`` or
  ``unavailable`` and the reason (:class:`AssistantState`).
* ``POST /prompts/assist`` — :class:`PromptAssistRequest` ->
  :class:`PromptAssistResponse`; 400 naming the field for bad input, 503 when
  the model gives no usable answer.

With ``HOUSIFY_AI_API_TOKEN`` set, every route but the probes ``/health`` and ``/ready`` answers 401
unless the request carries ``Authorization: Bearer <that token>`` (compared in
constant time): the network's rules stay the first line, this is the second
(OWASP ASVS 4.0 §1.2.2, §2.10: components authenticate each other; issue 21 "Also").

Image jobs do not come here: they go through the queue (long calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import resource
import time
from typing import Any, Literal

import msgspec
from litestar import Litestar, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, ServiceUnavailableException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from housify_ai.assistant import AssistantUnavailable, PromptAssistant
from housify_ai.availability import TaskAvailability, availability, live
from housify_ai.contract import PromptAssistRequest, PromptAssistResponse, StreamKeys
from housify_ai.settings import AISettings
from housify_common.redis import RedisClient, redis_from_url

log = logging.getLogger(__name__)


class ModelsResponse(msgspec.Struct):
    models: list[dict[str, Any]]
    workers: list[dict[str, Any]]
    max_rss_bytes: int
    redis: str
    tasks: list[TaskAvailability] = msgspec.field(default_factory=list)
    """Each registered task against the live workers: ``available`` or not with the ``reason`` they report."""


class AssistantState:
    """The prompt assistant's lifecycle: loaded by :func:`create_app`, then warmed up in a thread at start
    (a one-token completion: the first forward pass pages the mapped weights in and sets up llama.cpp's
    buffers, so the first user's call does not pay for it).

    ``state``: ``warming up`` -> ``ready``, or ``unavailable`` when the warm-up failed (``error``; calls
    still go to the model, which may answer or give 503 as usual). Assist calls wait for the warm-up to
    end (a ``Llama`` is not thread-safe); :meth:`wait` lets the standalone print its banner only then.
    """

    def __init__(self, assistant: PromptAssistant, *, warm: bool = False) -> None:
        self.assistant = assistant
        self.state: Literal["warming up", "ready", "unavailable"] = "ready" if warm else "warming up"
        self.error = ""
        self.warmup_seconds: float | None = None
        self._done = asyncio.Event()
        if warm:
            self._done.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Warm up in the background (once; a no-op when already warm)."""
        if self._task is None and not self._done.is_set():
            self._task = asyncio.get_running_loop().create_task(self._warm_up(), name="assistant-warm-up")

    async def _warm_up(self) -> None:
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self.assistant.llama.create_completion, "Hello", max_tokens=1)
            self.state = "ready"
        except Exception as exc:  # noqa: BLE001 - reported in /ready and the log; the app keeps serving
            self.state, self.error = "unavailable", f"{type(exc).__name__}: {exc}"
            log.error("prompt assistant: the warm-up request failed: %s", self.error)
        self.warmup_seconds = time.perf_counter() - started
        log.info("prompt assistant %s after a %.1f s warm-up", self.state, self.warmup_seconds)
        self._done.set()

    async def wait(self, seconds: float | None = None) -> bool:
        """Wait up to ``seconds`` (None: as long as it takes) for the warm-up to end; True when it has."""
        try:
            await asyncio.wait_for(self._done.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    def describe(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "error": self.error or None,
            "warmup_seconds": self.warmup_seconds,
            "model": self.assistant.model_path.name,
        }

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@get("/ready", operation_id="ready", sync_to_thread=False)
def ready(assistant_state: NamedDependency[AssistantState]) -> Response[dict[str, Any]]:
    """200 when the prompt assistant is warm, else 503 saying why (``warming up`` or ``unavailable``)."""
    status = assistant_state.state
    return Response(
        {"status": status, "assistant": assistant_state.describe()}, status_code=200 if status == "ready" else 503
    )


@get("/health", operation_id="health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/models", operation_id="listModels")
async def list_models(
    assistant: NamedDependency[PromptAssistant],
    settings: NamedDependency[AISettings],
    redis: NamedDependency[RedisClient],
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
    data: JSONBody[PromptAssistRequest],
    assistant: NamedDependency[PromptAssistant],
    assistant_state: NamedDependency[AssistantState],
) -> PromptAssistResponse:
    started = time.perf_counter()
    await assistant_state.wait()  # not beside the warm-up: a Llama is not thread-safe
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
        if connection.scope["path"] in ("/health", "/ready"):  # probes carry no token
            return
        sent = connection.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            raise NotAuthorizedException("the AI server's internal API needs its token (HOUSIFY_AI_API_TOKEN)")

    return guard


def create_app(
    settings: AISettings,
    *,
    assistant: PromptAssistant | None = None,
    redis: RedisClient | None = None,
    warm: bool | None = None,
) -> Litestar:
    """The internal API; loads the GGUF model now unless ``assistant`` is given, and warms it up in the
    background when the app starts (``warm``: already warm, default when ``assistant`` is given).
    ``app.state.assistant`` is its :class:`AssistantState`.

    Raises:
        housify_ai.errors.ModelLoadError: the LLM file is missing or unreadable.
    """
    given = assistant is not None
    assistant = assistant or PromptAssistant(
        settings.llm_model_path,
        threads=settings.ai_llm_threads,
        context=settings.ai_llm_context,
        max_tokens=settings.ai_llm_max_tokens,
    )
    state = AssistantState(assistant, warm=given if warm is None else warm)
    client = redis if redis is not None else redis_from_url(settings.redis_url)

    async def close_redis() -> None:
        await state.stop()
        if redis is None:
            await client.aclose()

    guard = _token_guard(settings.ai_api_token)
    return Litestar(
        route_handlers=[health, ready, list_models, assist_prompt],
        guards=[guard] if guard else [],
        dependencies={
            "assistant": Provide(lambda: assistant, sync_to_thread=False, use_cache=True),
            "assistant_state": Provide(lambda: state, sync_to_thread=False, use_cache=True),
            "settings": Provide(lambda: settings, sync_to_thread=False, use_cache=True),
            "redis": Provide(lambda: client, sync_to_thread=False, use_cache=True),
        },
        on_startup=[state.start],
        on_shutdown=[close_redis],
        state=State({"assistant": state}),
    )
