"""Litestar plugin that adds the media domain (images, jobs, ratings, gallery) to the API.

``create_app`` installs it. In ``on_app_init`` it registers the media
controllers and dependencies and adds a lifespan step (entered after the
app's own, so the database pool and Redis client are open while it runs):

* opens the image store (``HOUSIFY_STORAGE_URL`` or ``HOUSIFY_STORAGE_DIR``,
  docs/storage.md), the queue handle on the
  app's Redis client and key prefix, and the HTTP client of the AI server's
  internal API (``HOUSIFY_AI_URL``);
* publishes the subscription levels' ``its`` weights to the AI workers'
  registry (``housify_ai.contract.publish_levels``, which also creates the
  consumer groups), at start and every 30 s;
* runs the results consumer until shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from housify_ai.contract import StreamKeys, publish_levels
from housify_api.media.consumer import ResultsConsumer
from housify_api.media.controllers import CONTROLLERS
from housify_api.media.deps import DEPENDENCIES
from housify_api.media.gallery import FeaturedCache
from housify_api.media.images import MediaContext, purge_owner
from housify_api.media.jobs import Queue
from housify_api.media.settings import MediaSettings, load_media_settings
from housify_common.storage import StorageSettings, load_storage_settings, open_store

log = logging.getLogger("housify.media")


async def _purge_deleted_account(state: Any, user_id: Any) -> None:
    """Account deletion hook: the account's pictures and their files go first."""
    count = await purge_owner(state.media, user_id)
    log.info("account %s deleted: removed %d picture(s) and their files", user_id, count)


class MediaPlugin(InitPluginProtocol):
    """``MediaPlugin(settings=None, storage=None)``: media and storage settings from the environment unless given.

    Shared names win from the app's own settings when set there
    (``storage_dir``, ``ai_url`` of ``ApiSettings``; a ``storage`` field holding
    :class:`~housify_common.storage.StorageSettings`).
    """

    def __init__(self, settings: MediaSettings | None = None, storage: StorageSettings | None = None) -> None:
        self._settings = settings
        self._storage = storage

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(CONTROLLERS)
        app_config.dependencies.update(DEPENDENCIES)
        app_config.lifespan.append(self._lifespan)
        app_config.state.setdefault("account_deletion_hooks", []).append(_purge_deleted_account)
        return app_config

    def _resolve_settings(self, app: Litestar) -> MediaSettings:
        settings = self._settings or load_media_settings()
        api = app.state.get("settings")
        overrides: dict[str, Any] = {}
        for name in ("storage_dir", "ai_url"):
            value = getattr(api, name, "") if api is not None else ""
            if value and not getattr(settings, name):
                overrides[name] = value
        if not settings.storage_dir and api is not None and hasattr(api, "resolved_data_dir"):
            overrides.setdefault("storage_dir", str(api.resolved_data_dir() / "storage"))
        if overrides:
            import msgspec

            settings = msgspec.structs.replace(settings, **overrides)
        return settings

    def _resolve_storage(self, app: Litestar) -> StorageSettings:
        nested = getattr(app.state.get("settings"), "storage", None)
        if isinstance(nested, StorageSettings):
            return nested
        return self._storage or load_storage_settings()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        settings = self._resolve_settings(app)
        redis = app.state.redis
        prefix = app.state.redis_keys.prefix
        queue = Queue(client=redis, streams=StreamKeys(prefix), keys=app.state.redis_keys)
        app.state.media = MediaContext(
            store=open_store(self._resolve_storage(app), default_dir=settings.storage_root),
            settings=settings,
            featured=FeaturedCache(settings.media_featured_cache_seconds),
        )
        app.state.media_queue = queue
        await _roll_out_new_tasks()
        ai = (
            httpx.AsyncClient(base_url=settings.ai_url, timeout=httpx.Timeout(settings.ai_timeout_seconds, connect=3.0))
            if settings.ai_url
            else None
        )
        app.state.media_ai = ai
        consumer = ResultsConsumer(queue, app.state.media.store, settings.media_consumer_name)
        app.state.media_consumer = consumer
        consumer.start()
        stop = asyncio.Event()
        publisher = asyncio.create_task(_publish_levels_until(queue, stop), name="media-levels-publisher")
        try:
            yield
        finally:
            stop.set()
            await publisher
            await consumer.stop()
            if ai is not None:
                await ai.aclose()


async def _roll_out_new_tasks() -> None:
    """Give existing users the access right of newly registered tasks (a database outage only logs)."""
    from housify_api.media.catalog.access import roll_out_new_tasks

    try:
        await roll_out_new_tasks()
    except Exception as exc:  # noqa: BLE001 - the API still serves; the next start retries
        log.error("media: could not grant newly registered tasks to existing users: %s: %s", type(exc).__name__, exc)


#: How often the level weights are re-published: picks up the levels seeded after
#: start-up and admins' edits of ``its``.
LEVELS_PUBLISH_SECONDS = 30.0


async def _publish_levels_until(queue: Queue, stop: asyncio.Event) -> None:
    """Tell the AI workers each level's ``its`` (fair share) now and every :data:`LEVELS_PUBLISH_SECONDS`.

    A Redis or database outage only logs: the workers keep the last weights (or the contract's defaults).
    """
    from housify_api.tables import SubscriptionLevel

    while not stop.is_set():
        try:
            rows = await SubscriptionLevel.select(SubscriptionLevel.name, SubscriptionLevel.its)
            await publish_levels(queue.client, queue.streams, {row["name"]: float(row["its"]) for row in rows})
        except Exception as exc:  # noqa: BLE001 - Redis or the database down; try again next round
            log.error("media: could not publish level weights: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=LEVELS_PUBLISH_SECONDS)
