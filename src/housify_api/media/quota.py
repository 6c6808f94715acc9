"""Storage quota per user (docs/design.md "Subscription levels", ``storage_limit``), safe under concurrent uploads.

The bytes a user holds live in one row of ``media_storage_use``. A reservation
is a single conditional statement::

    UPDATE media_storage_use SET bytes_used = bytes_used + n
     WHERE owner = $user AND bytes_used + n <= $limit RETURNING bytes_used

The database serialises updates of one row (PostgreSQL row lock; SQLite's
single writer), so two uploads that each fit alone but not together cannot
both pass: the second sees the first's bytes and matches no row.
"""

from __future__ import annotations

from uuid import UUID

from litestar.exceptions import HTTPException
from piccolo.columns.combination import WhereRaw

from housify_api.media.tables import StorageUse

GB = 1024**3
MB = 1024**2


class StorageQuotaExceeded(HTTPException):
    """413: the upload or job would pass the level's storage limit; ``detail`` gives both numbers."""

    status_code = 413


def describe(nbytes: int) -> str:
    """Human size: ``1.5 GB``, ``20.0 MB``, ``512 bytes``."""
    if nbytes >= GB:
        return f"{nbytes / GB:.1f} GB"
    if nbytes >= MB:
        return f"{nbytes / MB:.1f} MB"
    return f"{nbytes} bytes"


async def _ensure_row(owner: UUID) -> None:
    await StorageUse.insert(StorageUse(owner=owner, bytes_used=0)).on_conflict(
        target=StorageUse.owner, action="DO NOTHING"
    )


async def used_bytes(owner: UUID) -> int:
    """Bytes currently charged to ``owner`` (0 for a user who never stored anything)."""
    row = await StorageUse.select(StorageUse.bytes_used).where(StorageUse.owner == owner).first()
    return int(row["bytes_used"]) if row else 0


async def reserve(owner: UUID, nbytes: int, limit_bytes: int) -> int:
    """Charge ``nbytes`` to ``owner`` if the total stays within ``limit_bytes``; returns the new total.

    Raises:
        StorageQuotaExceeded: (413) naming the limit, what is used and what was asked.
    """
    await _ensure_row(owner)
    rows = (
        await StorageUse.update({StorageUse.bytes_used: StorageUse.bytes_used + nbytes})
        .where((StorageUse.owner == owner) & WhereRaw("bytes_used + {} <= {}", nbytes, limit_bytes))
        .returning(StorageUse.bytes_used)
    )
    if not rows:
        used = await used_bytes(owner)
        raise StorageQuotaExceeded(
            detail=f"storage limit of your level is {describe(limit_bytes)}; "
            f"{describe(used)} used, this needs {describe(nbytes)} more"
        )
    return int(rows[0]["bytes_used"])


async def charge(owner: UUID, nbytes: int) -> None:
    """Add ``nbytes`` unconditionally (a finished generation: the picture exists already)."""
    await _ensure_row(owner)
    await StorageUse.update({StorageUse.bytes_used: StorageUse.bytes_used + nbytes}).where(StorageUse.owner == owner)


async def release(owner: UUID, nbytes: int) -> None:
    """Give back ``nbytes`` (a deleted picture, a failed upload); never below zero."""
    rows = (
        await StorageUse.update({StorageUse.bytes_used: StorageUse.bytes_used - nbytes})
        .where((StorageUse.owner == owner) & WhereRaw("bytes_used >= {}", nbytes))
        .returning(StorageUse.bytes_used)
    )
    if not rows:  # the books were already short (e.g. a row reset by hand): clamp at zero
        await StorageUse.update({StorageUse.bytes_used: 0}).where(StorageUse.owner == owner)


async def ensure_room(owner: UUID, limit_bytes: int) -> None:
    """413 when ``owner`` already uses all of ``limit_bytes`` (checked before a job is queued)."""
    used = await used_bytes(owner)
    if used >= limit_bytes:
        raise StorageQuotaExceeded(
            detail=f"storage limit of your level is {describe(limit_bytes)} and {describe(used)} are used; "
            "delete pictures to make room"
        )
