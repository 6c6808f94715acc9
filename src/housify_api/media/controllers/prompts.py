"""``POST /prompts/assist``: the prompt assistant on the AI server."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from housify_ai.contract import PromptAssistRequest, PromptAssistResponse
from housify_api.auth.guards import requires_service
from housify_api.auth.identity import AuthUser
from housify_api.media import assist
from housify_api.media.services import MediaServices
from housify_api.plans.service import Level
from housify_api.system.error_docs import documented


class PromptController(Controller):
    path = "/prompts"
    tags = ["prompts"]

    @post(
        "/assist",
        operation_id="assistPrompt",
        status_code=HTTP_200_OK,
        guards=[requires_service("prompt_assist")],
        summary="Turn an idea into a prompt, negative prompt and notes (LLM on the AI server)",
        raises=[
            documented(422, "the AI server refused the idea"),
            documented(429, "one call at a time per user, or the level's calls per hour; see Retry-After"),
        ],
    )
    async def assist(
        self,
        request: Request[AuthUser, Any, Any],
        data: JSONBody[PromptAssistRequest],
        media: NamedDependency[MediaServices],
        limits: NamedDependency[Level],
    ) -> PromptAssistResponse:
        """503 with the reason when the AI server is not configured, down, too slow or busy (``Retry-After``)."""
        async with media.assist.slot(request.user, limits):
            return await assist.assist(media.ai, request.user, data)
