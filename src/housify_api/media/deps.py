"""Dependencies of the media routes, derived from the app's services (``housify_api.services``):
each provider takes the app-wide service dependencies it needs by name.

==================  ================================================  ==================
handler parameter   what                                              from
==================  ================================================  ==================
``media``           :class:`~housify_api.media.services.MediaServices` ``services.media`` (app-wide provider)
``images``          :class:`~housify_api.media.images.ImageService`   ``services.media.images``
``jobs``            :class:`~housify_api.media.jobs.JobService`       ``services.media.jobs``
``queue``           :class:`~housify_api.media.queue.Queue`           ``services.media.queue``
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
from litestar.di import NamedDependency, Provide

from housify_api.auth.credentials import Authenticator
from housify_api.auth.identity import AuthUser
from housify_api.media.images import ImageService
from housify_api.media.jobs import JobService
from housify_api.media.levels import caller_level
from housify_api.media.queue import Queue
from housify_api.media.services import MediaServices
from housify_api.plans.service import Level, LevelService


def provide_images(media: NamedDependency[MediaServices]) -> ImageService:
    return media.images


def provide_jobs(media: NamedDependency[MediaServices]) -> JobService:
    return media.jobs


def provide_queue(media: NamedDependency[MediaServices]) -> Queue:
    return media.queue


def provide_ai_client(media: NamedDependency[MediaServices]) -> httpx.AsyncClient | None:
    return media.ai


async def provide_limits(request: Request[AuthUser, Any, Any], levels: NamedDependency[LevelService]) -> Level:
    return await caller_level(levels, request.user)


async def provide_viewer(
    request: Request[Any, Any, Any], authenticator: NamedDependency[Authenticator]
) -> AuthUser | None:
    return await authenticator.optional_user(request)


DEPENDENCIES = {
    "images": Provide(provide_images, sync_to_thread=False),
    "jobs": Provide(provide_jobs, sync_to_thread=False),
    "queue": Provide(provide_queue, sync_to_thread=False),
    "ai_client": Provide(provide_ai_client, sync_to_thread=False),
    "limits": Provide(provide_limits),
    "viewer": Provide(provide_viewer),
}
