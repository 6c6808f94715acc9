"""Image storage behind one small interface (DESIGN.md §1: a directory by default).

The AI worker writes generated pictures and thumbnails here; the API writes
uploads and serves both. Keys are made by Housify (``images/<uuid>.png``,
``thumbs/<uuid>.webp``), never taken from a client's file name, and are
checked against :data:`KEY_PATTERN` so no key can leave the storage root.
An S3-compatible store for many hosts would implement the same four methods.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_.-]*)*$")


class StorageKeyError(ValueError):
    """A key that does not match :data:`KEY_PATTERN` (e.g. contains ``..`` or upper case)."""


class ImageStore(Protocol):
    async def put(self, key: str, data: bytes) -> int:
        """Store ``data`` under ``key`` (replacing it); returns the size in bytes."""

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``FileNotFoundError`` when absent."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are not an error."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for ``key`` (for sendfile / X-Accel-Redirect), or ``None``."""


class DirectoryStore:
    """Files under ``root``; writes are atomic (temporary file + ``os.replace``) and off the event loop."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def local_path(self, key: str) -> Path:
        if not KEY_PATTERN.match(key) or ".." in key:
            raise StorageKeyError(f"invalid storage key {key!r}")
        return self.root / key

    async def put(self, key: str, data: bytes) -> int:
        return await asyncio.to_thread(self._put_sync, key, data)

    def put_sync(self, key: str, data: bytes) -> int:
        """Blocking :meth:`put`, for worker threads that are not on an event loop."""
        return self._put_sync(key, data)

    def _put_sync(self, key: str, data: bytes) -> int:
        path = self.local_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return len(data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self.local_path(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.local_path(key).unlink, True)
