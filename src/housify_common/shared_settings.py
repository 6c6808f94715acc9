"""The root of the settings tree: what every Housify service shares (docs/configuration.md).

A service's settings Struct derives from :class:`CommonSettings`
(``housify_api.settings.ApiSettings``); groups of its own are nested as
Struct-typed fields, read from the same flat ``HOUSIFY_*`` variables
(:func:`housify_common.settings.load_settings`). The image store's settings
are the storage package's :class:`~housify_common.storage.StorageSettings`,
nested as ``storage``.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from housify_common.settings import default_data_dir
from housify_common.storage import ImageStore, StorageSettings, open_store


class CommonSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Database, Redis, data directory, image storage and the AI server: shared by the services."""

    #: ``HOUSIFY_DATABASE_URL`` (or ``_FILE``): ``postgresql://…`` or ``sqlite:///…``; empty = the
    #: embedded SQLite file. piccolo binds the tables at import through ``PICCOLO_CONF``
    #: (:func:`housify_common.db.database_url_from_env` reads the same variables); the value here is for
    #: checks and banners.
    database_url: str = ""
    #: ``HOUSIFY_REDIS_URL``: empty = an in-process Redis stand-in (fakeredis).
    redis_url: str = ""
    #: ``HOUSIFY_REDIS_PREFIX``: namespace of every key.
    redis_prefix: str = "housify:"
    #: ``HOUSIFY_DATA_DIR``: the embedded default's files (SQLite, dev keys, storage); ``./var`` when empty.
    data_dir: str = ""
    #: ``HOUSIFY_AI_URL``: the AI server's internal HTTP API; empty = not configured.
    ai_url: str = ""
    #: ``HOUSIFY_AI_API_TOKEN`` (or ``_FILE``): the credential the API sends to the AI server's internal
    #: API as ``Authorization: Bearer``; the AI server holds the same one. Empty = none (embedded default).
    ai_api_token: str = ""
    #: The image store (``HOUSIFY_STORAGE_URL``, ``HOUSIFY_STORAGE_DIR``, ``HOUSIFY_S3_*``; docs/storage.md).
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)

    def resolved_data_dir(self) -> Path:
        """``data_dir`` or ``HOUSIFY_DATA_DIR`` or ``./var``, absolute."""
        return Path(self.data_dir).resolve() if self.data_dir else default_data_dir()

    def open_store(self) -> ImageStore:
        """The image store ``storage`` names; a directory under ``<resolved_data_dir()>/storage`` by default.

        Raises:
            SettingsError: naming ``HOUSIFY_STORAGE_URL`` when it is malformed.
        """
        return open_store(self.storage, default_dir=self.resolved_data_dir() / "storage")
