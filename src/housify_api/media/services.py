"""The media domain's services and collaborators (images, jobs, gallery, prompt assistant), built once per app.

:func:`build_media_services` makes them from the API's settings, each service with its
collaborators explicit (:class:`~housify_api.media.images.ImageService` over the store and
settings, :class:`~housify_api.media.jobs.JobService` over the queue);
``housify_api.services.build_services`` puts the result in the app's container
as ``services.media``. The results consumer is only *made* here; the media
plugin's lifespan starts and stops it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

import httpx

from housify_ai.contract import StreamKeys
from housify_api.media import picture_urls
from housify_api.media.assist import AssistGate
from housify_api.media.consumer import ResultsConsumer
from housify_api.media.decoder import Decoder
from housify_api.media.events import EventHub, build_event_hub
from housify_api.media.gallery import FeaturedCache
from housify_api.media.images import ImageService
from housify_api.media.jobs import JobService
from housify_api.media.queue import Queue
from housify_api.settings import ApiSettings, MediaSettings
from housify_common.redis import RedisClient, RedisKeys
from housify_common.storage import ImageStore
from housify_common.storage.signing import MediaUrls

log = logging.getLogger("housify.media")


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaServices:
    """The media services and what they share.

    Attributes:
        images: pictures (upload, read, change, delete, content).
        jobs: generation jobs (submit, list, read, cancel).
        store: the image store (``settings.storage``: a directory or an S3 bucket, docs/storage.md).
        settings: the media settings (``ApiSettings.media``).
        featured: the front-page cache.
        queue: the Redis side of jobs (client, the contract's stream keys, Housify's key namer).
        ai: HTTP client of the AI server's internal API (``HOUSIFY_AI_URL``); ``None`` when not configured.
        consumer: the results consumer (started by the media plugin's lifespan).
        assist: admission to the prompt assistant (per-user limits, a bounded queue).
        events: the one reader of job event streams behind every events WebSocket (its own Redis connections).
    """

    images: ImageService
    jobs: JobService
    store: ImageStore
    settings: MediaSettings
    featured: FeaturedCache
    queue: Queue
    ai: httpx.AsyncClient | None
    consumer: ResultsConsumer
    assist: AssistGate
    events: EventHub

    async def aclose(self) -> None:
        await self.events.aclose()
        self.images.decoder.close()
        if self.ai is not None:
            await self.ai.aclose()


def _url_secret(settings: ApiSettings) -> str:
    """``HOUSIFY_MEDIA_URL_SECRET``; unset: derived from the JWT private key (HMAC-SHA256, so API instances
    sharing the key agree and the key itself is not revealed), else random for this process."""
    if settings.media.url_secret:
        return settings.media.url_secret
    if settings.jwt_private_key:
        derived = hmac.new(settings.jwt_private_key.encode(), b"housify media URL secret v1", hashlib.sha256)
        return base64.urlsafe_b64encode(derived.digest()).decode().rstrip("=")
    if settings.media.accel_redirect_prefix or settings.media.s3_url_prefix:
        log.warning("HOUSIFY_MEDIA_URL_SECRET is not set: picture URLs work on this API process only")
    return secrets.token_urlsafe(32)


def build_media_services(settings: ApiSettings, redis: RedisClient, keys: RedisKeys) -> MediaServices:
    """The media collaborators for ``settings``, on the app's Redis client and key prefix."""
    media = settings.media
    queue = Queue(client=redis, streams=StreamKeys(keys.prefix), keys=keys)
    store = settings.open_store()
    picture_urls.configure(MediaUrls(_url_secret(settings), store, s3_prefix=media.s3_url_prefix))
    ai = (
        httpx.AsyncClient(
            base_url=settings.ai_url,
            timeout=httpx.Timeout(media.ai_timeout_seconds, connect=3.0),
            # the AI server's credential (defence in depth behind the network; docs/security.md)
            headers={"Authorization": f"Bearer {settings.ai_api_token}"} if settings.ai_api_token else None,
        )
        if settings.ai_url
        else None
    )
    return MediaServices(
        images=ImageService(
            store=store,
            settings=media,
            decoder=Decoder(
                workers=media.decode_workers, memory_mb=media.decode_memory_mb, timeout=media.decode_timeout_seconds
            ),
            redis=redis,
            keys=keys,
        ),
        jobs=JobService(queue),
        store=store,
        settings=media,
        featured=FeaturedCache(media.featured_cache_seconds),
        queue=queue,
        ai=ai,
        consumer=ResultsConsumer(queue, store, media.consumer_name),
        assist=AssistGate(
            redis,
            keys,
            concurrency=media.assist_concurrency,
            queue=media.assist_queue,
            wait_seconds=media.assist_wait_seconds,
            calls_per_job=media.assist_calls_per_job,
        ),
        events=build_event_hub(
            settings.redis_url,
            redis,
            queue.streams,
            per_user=media.event_sockets_per_user,
            total=media.event_sockets_max,
        ),
    )
