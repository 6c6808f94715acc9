"""The media domain's collaborators (images, jobs, gallery, prompt assistant), built once per app.

:func:`build_media_services` makes them from the API's settings;
``housify_api.services.build_services`` puts the result in the app's container
as ``services.media``. The results consumer is only *made* here; the media
plugin's lifespan starts and stops it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from uuid import UUID

import httpx
from redis.asyncio import Redis

from housify_ai.contract import StreamKeys
from housify_api.media import picture_urls
from housify_api.media.consumer import ResultsConsumer
from housify_api.media.events import EventHub, build_event_hub
from housify_api.media.gallery import FeaturedCache
from housify_api.media.jobs import Queue
from housify_api.settings import ApiSettings, MediaSettings
from housify_common.redis import RedisKeys
from housify_common.storage import ImageStore
from housify_common.storage.signing import MediaUrls

log = logging.getLogger("housify.media")


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaServices:
    """What the media services share.

    Attributes:
        store: the image store (``settings.storage``: a directory or an S3 bucket, docs/storage.md).
        settings: the media settings (``ApiSettings.media``).
        featured: the front-page cache.
        queue: the Redis side of jobs (client, the contract's stream keys, Housify's key namer).
        ai: HTTP client of the AI server's internal API (``HOUSIFY_AI_URL``); ``None`` when not configured.
        consumer: the results consumer (started by the media plugin's lifespan).
        events: the one reader of job event streams behind every events WebSocket (its own Redis connections).
    """

    store: ImageStore
    settings: MediaSettings
    featured: FeaturedCache
    queue: Queue
    ai: httpx.AsyncClient | None
    consumer: ResultsConsumer
    events: EventHub

    async def purge_account(self, user_id: UUID) -> int:
        """Account deletion hook: the account's pictures and their files go first; returns how many."""
        from housify_api.media.images import purge_owner

        return await purge_owner(self, user_id)

    async def aclose(self) -> None:
        await self.events.aclose()
        if self.ai is not None:
            await self.ai.aclose()


def build_media_services(settings: ApiSettings, redis: Redis, keys: RedisKeys) -> MediaServices:
    """The media collaborators for ``settings``, on the app's Redis client and key prefix."""
    media = settings.media
    queue = Queue(client=redis, streams=StreamKeys(keys.prefix), keys=keys)
    store = settings.open_store()
    secret = media.url_secret or secrets.token_urlsafe(32)
    if not media.url_secret and (media.accel_redirect_prefix or media.s3_url_prefix):
        log.warning("HOUSIFY_MEDIA_URL_SECRET is not set: picture URLs work on this API instance only, not nginx")
    picture_urls.configure(MediaUrls(secret, store, s3_prefix=media.s3_url_prefix))
    ai = (
        httpx.AsyncClient(base_url=settings.ai_url, timeout=httpx.Timeout(media.ai_timeout_seconds, connect=3.0))
        if settings.ai_url
        else None
    )
    return MediaServices(
        store=store,
        settings=media,
        featured=FeaturedCache(media.featured_cache_seconds),
        queue=queue,
        ai=ai,
        consumer=ResultsConsumer(queue, store, media.consumer_name),
        events=build_event_hub(
            settings.redis_url,
            redis,
            queue.streams,
            per_user=media.event_sockets_per_user,
            total=media.event_sockets_max,
        ),
    )
