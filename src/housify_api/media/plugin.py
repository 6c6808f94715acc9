"""Litestar plugin that adds the media domain (images, jobs, ratings, gallery) to the API.

``create_app`` installs it; it registers the media route handlers and starts
the results consumer in the app's lifespan. Placeholder until the media
domain lands: it registers nothing yet.
"""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol


class MediaPlugin(InitPluginProtocol):
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        return app_config
