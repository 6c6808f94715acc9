"""Litestar plugin that adds the media domain (images, jobs, ratings, gallery) to the API.

``create_app`` installs it. In ``on_app_init`` it registers the media
controllers and dependencies and adds a lifespan step (entered after the
app's own, so the database pool and Redis client are open while it runs):

* publishes the subscription levels' ``its`` weights to the AI workers'
  registry (``housify_ai.contract.publish_levels``, which also creates the
  consumer groups), at start and every 30 s;
* grants newly registered tasks to the existing users once
  (``housify_api.media.catalog.access.roll_out_new_tasks``) and seeds the
  missing default presets (``housify_api.media.catalog.presets.seed_presets``);
* runs the results consumer (``services.media.consumer``) until shutdown;
* ends jobs queued longer than ``HOUSIFY_MEDIA_JOB_QUEUE_TIMEOUT``
  (``housify_api.media.deadlines``), every 30 s.

The collaborators themselves are built with the app's other services
(:func:`housify_api.media.services.build_media_services`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from housify_ai.contract import publish_levels
from housify_api.media.catalog.access import roll_out_new_tasks
from housify_api.media.catalog.presets import seed_presets
from housify_api.media.controllers import CONTROLLERS
from housify_api.media.deadlines import expire_queued_until
from housify_api.media.deps import DEPENDENCIES
from housify_api.media.queue import Queue
from housify_api.plans.service import LevelService

log = logging.getLogger("housify.media")

#: How often the level weights are re-published: picks up the levels seeded after
#: start-up and admins' edits of ``its``.
LEVELS_PUBLISH_SECONDS = 30.0


class MediaPlugin(InitPluginProtocol):
    """Routes, dependencies and background work of the media domain."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(CONTROLLERS)
        app_config.dependencies.update(DEPENDENCIES)
        app_config.lifespan.append(self._lifespan)
        return app_config

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        services = app.state.services
        await _roll_out_new_tasks()
        consumer = services.media.consumer
        consumer.start()
        stop = asyncio.Event()
        publisher = asyncio.create_task(
            _publish_levels_until(services.levels, services.media.queue, stop), name="media-levels-publisher"
        )
        expirer = asyncio.create_task(
            expire_queued_until(services.media.queue, services.media.settings.job_queue_timeout, stop),
            name="media-queue-expiry",
        )
        try:
            yield
        finally:
            stop.set()
            await publisher
            await expirer
            await consumer.stop()
            await services.media.aclose()


async def _roll_out_new_tasks() -> None:
    """Give existing users the access right of newly registered tasks, seed the missing default presets
    (a database outage only logs)."""
    try:
        await roll_out_new_tasks()
        await seed_presets()
    except Exception as exc:  # noqa: BLE001 - the API still serves; the next start retries
        log.error("media: could not grant newly registered tasks to existing users: %s: %s", type(exc).__name__, exc)


async def _publish_levels_until(levels: LevelService, queue: Queue, stop: asyncio.Event) -> None:
    """Tell the AI workers each level's ``its`` (fair share) now and every :data:`LEVELS_PUBLISH_SECONDS`.

    A Redis or database outage only logs: the workers keep the last weights (or the contract's defaults).
    """
    while not stop.is_set():
        try:
            await publish_levels(queue.client, queue.streams, await levels.weights())
        except Exception as exc:  # noqa: BLE001 - Redis or the database down; try again next round
            log.error("media: could not publish level weights: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=LEVELS_PUBLISH_SECONDS)
