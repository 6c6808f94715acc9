"""Where the images are: :class:`StorageSettings` from ``HOUSIFY_*`` variables, and :func:`open_store`.

The API, the AI workers and ``housify standalone`` read the same variables
(docs/storage.md lists them); secrets may come as files
(``HOUSIFY_S3_SECRET_ACCESS_KEY_FILE``, see :mod:`housify_common.settings`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

import msgspec

from housify_common.settings import SettingsError, load_settings
from housify_common.storage.base import ImageStore
from housify_common.storage.directory import DirectoryStore
from housify_common.storage.s3 import S3Store


class StorageSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The image store's settings; field ``x`` is read from ``HOUSIFY_X``."""

    #: ``HOUSIFY_STORAGE_URL``: ``file:///abs/path`` or ``s3://bucket[/prefix]``; wins over ``storage_dir``.
    storage_url: str = ""
    #: ``HOUSIFY_STORAGE_DIR``: a directory store's root (the older way to say ``file://``).
    storage_dir: str = ""
    #: ``HOUSIFY_S3_ENDPOINT_URL``: the S3 server (``http://10.0.0.1:3900`` for Garage); empty = AWS.
    s3_endpoint_url: str = ""
    #: ``HOUSIFY_S3_REGION``: the region the server signs for (Garage: its ``s3_region``, often ``garage``).
    s3_region: str = "us-east-1"
    #: ``HOUSIFY_S3_ACCESS_KEY_ID``: empty = the AWS default chain (``AWS_*`` variables, instance profile).
    s3_access_key_id: str = ""
    #: ``HOUSIFY_S3_SECRET_ACCESS_KEY`` (or ``_FILE``).
    s3_secret_access_key: str = ""
    #: ``HOUSIFY_S3_PRESIGN_SECONDS``: life of the presigned GET URLs handed to nginx (used at once).
    s3_presign_seconds: Annotated[int, msgspec.Meta(ge=1, le=7 * 24 * 3600)] = 60
    #: ``HOUSIFY_S3_TIMEOUT_SECONDS``: bound of one S3 request, retries included; then 503.
    s3_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 10.0


def load_storage_settings(environ: dict[str, str] | None = None, **overrides: object) -> StorageSettings:
    """:class:`StorageSettings` from the environment; ``SettingsError`` naming the variable."""
    return load_settings(StorageSettings, environ, **overrides)


def open_store(settings: StorageSettings, *, default_dir: str | Path | None = None) -> ImageStore:
    """The store ``settings`` name: ``storage_url``, else ``storage_dir``, else ``default_dir``,
    else ``<HOUSIFY_DATA_DIR>/storage`` (the embedded default).

    Opening does no network I/O (S3 errors come with the first request).

    Raises:
        SettingsError: naming ``HOUSIFY_STORAGE_URL`` for a URL that is neither
            ``file:///…`` nor ``s3://bucket[/prefix]``, or a bad bucket or prefix.
    """
    url = settings.storage_url.strip()
    if not url:
        if settings.storage_dir:
            return DirectoryStore(settings.storage_dir)
        if default_dir is not None:
            return DirectoryStore(default_dir)
        from housify_common.db import default_data_dir

        return DirectoryStore(default_data_dir() / "storage")
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        return DirectoryStore(unquote(parts.path))
    if parts.scheme == "s3" and parts.netloc and not parts.query and not parts.fragment:
        try:
            return S3Store(
                parts.netloc,
                parts.path.strip("/"),
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
                presign_seconds=settings.s3_presign_seconds,
                timeout_seconds=settings.s3_timeout_seconds,
            )
        except ValueError as exc:
            raise SettingsError(f"HOUSIFY_STORAGE_URL: {exc}") from exc
    raise SettingsError(f"HOUSIFY_STORAGE_URL: {url!r} is neither file:///absolute/path nor s3://bucket[/prefix]")
