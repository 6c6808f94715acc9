"""Dependencies of the media routes, built once by :class:`~housify_api.media.plugin.MediaPlugin`.

==================  ================================================  ==================
``app.state.<n>``   what                                              handler parameter
==================  ================================================  ==================
``media``           :class:`~housify_api.media.images.MediaContext`   ``media``
``media_queue``     :class:`~housify_api.media.jobs.Queue`            ``queue``
``media_ai``        ``httpx.AsyncClient`` for ``HOUSIFY_AI_URL``       ``ai_client``
                    (``None`` when not configured)
—                   the caller's :class:`LevelLimits`                  ``limits``
—                   the caller or ``None`` on public routes            ``viewer``
==================  ================================================  ==================
"""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from housify_api.auth.identity import AuthUser
from housify_api.media.auth import optional_user
from housify_api.media.images import MediaContext
from housify_api.media.jobs import Queue
from housify_api.media.levels import LevelLimits, level_limits


def provide_media(state: State) -> MediaContext:
    return state.media


def provide_queue(state: State) -> Queue:
    return state.media_queue


def provide_ai_client(state: State) -> httpx.AsyncClient | None:
    return state.media_ai


async def provide_limits(request: Request[AuthUser, Any, Any]) -> LevelLimits:
    return await level_limits(request.user.tier)


async def provide_viewer(request: Request[Any, Any, Any]) -> AuthUser | None:
    return await optional_user(request)


DEPENDENCIES = {
    "media": Provide(provide_media, sync_to_thread=False),
    "queue": Provide(provide_queue, sync_to_thread=False),
    "ai_client": Provide(provide_ai_client, sync_to_thread=False),
    "limits": Provide(provide_limits),
    "viewer": Provide(provide_viewer),
}
