"""Dependencies of the media routes, derived from the app's services (``housify_api.services``).

==================  ================================================  ==================
handler parameter   what                                              from
==================  ================================================  ==================
``media``           :class:`~housify_api.media.services.MediaServices` ``services.media`` (app-wide provider)
``queue``           :class:`~housify_api.media.jobs.Queue`            ``services.media.queue``
``ai_client``       ``httpx.AsyncClient`` for ``HOUSIFY_AI_URL``       ``services.media.ai``
                    (``None`` when not configured)
``limits``          the caller's :class:`~housify_api.plans.Level`     ``services.levels`` (cached)
``viewer``          the caller or ``None`` on public routes            ``services.authenticator``
==================  ================================================  ==================
"""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from housify_api.auth.identity import AuthUser
from housify_api.media.jobs import Queue
from housify_api.media.levels import caller_level
from housify_api.plans.service import Level


def provide_queue(state: State) -> Queue:
    return state.services.media.queue


def provide_ai_client(state: State) -> httpx.AsyncClient | None:
    return state.services.media.ai


async def provide_limits(request: Request[AuthUser, Any, Any]) -> Level:
    return await caller_level(request.app.state.services.levels, request.user)


async def provide_viewer(request: Request[Any, Any, Any]) -> AuthUser | None:
    return await request.app.state.services.authenticator.optional_user(request)


DEPENDENCIES = {
    "queue": Provide(provide_queue, sync_to_thread=False),
    "ai_client": Provide(provide_ai_client, sync_to_thread=False),
    "limits": Provide(provide_limits),
    "viewer": Provide(provide_viewer),
}
