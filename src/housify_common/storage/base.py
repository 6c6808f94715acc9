"""What every image store offers: the :class:`ImageStore` protocol, its key rule and its errors.

Keys are made by Housify (``images/<uuid>.png``, ``thumbs/<uuid>.webp``),
never taken from a client's file name. Every store checks them with
:func:`check_key` before any I/O, so a key is valid or invalid the same way
on a directory and in a bucket, and none can leave the storage root.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: Lower-case ASCII segments separated by ``/``; the first segment has no dot,
#: later ones may (``images/<uuid>.png``). The AI job contract repeats the rule
#: (``housify_ai.contract``), which imports nothing of ours.
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_.-]*)*$")
#: Longest key: the ``storage_key`` column of ``media_images`` is ``varchar(200)``.
MAX_KEY_LENGTH = 200
#: Default piece size of streamed reads (bytes).
READ_CHUNK_BYTES = 1024 * 1024
#: Part size of streamed (multipart) writes: S3 wants parts of at least 5 MiB
#: except the last (AWS S3 User Guide, "Amazon S3 multipart upload limits").
PART_BYTES = 8 * 1024 * 1024


class StorageKeyError(ValueError):
    """A key that breaks :data:`KEY_PATTERN` (``..``, upper case, a leading ``/``) or is too long."""


class StorageUnavailable(Exception):
    """The store cannot be reached or refused the operation (S3 down, bad credentials, disk
    full, a lost mount). The API answers 503 and records nothing as stored."""


def check_key(key: str) -> str:
    """``key`` when it is a valid storage key.

    Raises:
        StorageKeyError: it breaks :data:`KEY_PATTERN`, contains ``..`` or passes
            :data:`MAX_KEY_LENGTH` characters.
    """
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or ".." in key or not KEY_PATTERN.match(key):
        raise StorageKeyError(
            f"invalid storage key {key!r}: lower-case a-z, 0-9, '_', '-', '.' in '/'-separated segments, "
            f"no '..', at most {MAX_KEY_LENGTH} characters"
        )
    return key


def content_type_of(key: str) -> str:
    """The media type stored with an object, from its extension (``image/png`` for ``*.png``)."""
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One stored object: its key and size in bytes."""

    key: str
    size: int


@dataclass(frozen=True, slots=True)
class ObjectStream:
    """An object opened for reading: ``size`` in bytes and its bytes as ``chunks``."""

    size: int
    chunks: AsyncIterator[bytes]


log = logging.getLogger("housify.storage")


async def put_with_retry(
    store: ImageStore, key: str, data: bytes, *, within: float = 60.0, first_pause: float = 0.5
) -> int:
    """``store.put(key, data)``, retried on :class:`StorageUnavailable` with doubling pauses
    (``first_pause``, twice that, … at most 8 s) for up to ``within`` seconds; returns the size.

    For writers that must not lose finished work to a short outage (the AI worker's
    results: a job's claim stays alive meanwhile). Raises the last ``StorageUnavailable``
    once ``within`` has passed; ``StorageKeyError`` at once.
    """
    deadline = time.monotonic() + within
    pause = first_pause
    while True:
        try:
            return await store.put(key, data)
        except StorageUnavailable as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("image store unavailable writing %s (%s); retrying in %.1f s", key, exc, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, 8.0)


class ImageStore(Protocol):
    """Image storage shared by the API and the AI workers.

    Errors, for every method: :class:`StorageKeyError` for a bad key (before any
    I/O), :class:`StorageUnavailable` when the store cannot do it, and
    ``FileNotFoundError`` where a missing key matters (reads).
    """

    #: Where the store is, as ``HOUSIFY_STORAGE_URL`` would say it (``file:///…``, ``s3://bucket/prefix``).
    url: str

    async def put(self, key: str, data: bytes) -> int:
        """Store ``data`` under ``key``, replacing it atomically; returns the size in bytes."""
        ...

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the bytes of ``chunks`` under ``key`` without holding them all in memory
        (S3: a multipart upload of :data:`PART_BYTES` parts); atomic; returns the size."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``FileNotFoundError`` when absent."""
        ...

    async def get_stream(self, key: str, chunk_size: int = READ_CHUNK_BYTES) -> ObjectStream:
        """Open ``key`` for reading in pieces of about ``chunk_size`` bytes; ``FileNotFoundError``
        (raised here, before any byte) when absent."""
        ...

    async def stat(self, key: str) -> int | None:
        """Size of ``key`` in bytes, ``None`` when absent."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are not an error."""
        ...

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in no set order."""
        ...

    async def accel_redirect(self, key: str, location: str) -> str:
        """The ``X-Accel-Redirect`` value that makes nginx send ``key`` from its internal
        ``location`` (``/_media/`` aliasing the directory; ``/_media_s3/`` proxying to S3)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for ``key`` (for sendfile), or ``None`` when the store has none."""
        ...
