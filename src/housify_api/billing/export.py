"""``GET /users/me/export``: a user's data as a ZIP, written while it is sent (GDPR Art. 20, the right to
data portability: "a structured, commonly used and machine-readable format").

The ZIP holds ``account.json`` (account, orders, paid period, jobs, pictures' metadata, ratings
given, API keys without their hashes) and each picture under ``pictures/<id>.<ext>``. It is
produced by :mod:`zipfile` over a write-only sink that the response drains after every chunk
(zipfile writes data descriptors and ZIP64 records when it cannot seek), so memory stays at
about one storage chunk whatever the account's size. Pictures are stored uncompressed (they are
PNG/JPEG/WebP already). A picture whose file is missing is named in ``missing`` of
``export-report.json``, the last entry, instead of failing the download half-way.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from uuid import UUID

import msgspec

from housify_api.billing.tables import BillingOrder, BillingPeriod
from housify_api.media.tables import Image, Job, Rating
from housify_api.tables import ApiKey, User
from housify_common.storage.base import ImageStore

log = logging.getLogger("housify_api.billing.export")

#: The account columns exported (never the password hash).
_USER_COLUMNS = [column for column in User._meta.columns if column._meta.name != "password_hash"]


def export_filename(user_id: UUID) -> str:
    return f"housify-export-{user_id}-{datetime.now(UTC):%Y%m%d}.zip"


class _Sink:
    """A write-only file for :class:`zipfile.ZipFile`: collects what is written until drained."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: the response drains the parts."""

    def close(self) -> None:
        """Nothing to close: the parts are drained by the response."""

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


async def account_document(user_id: UUID) -> dict[str, Any]:
    """The user's records as one JSON-ready object (rows as stored; times UTC)."""
    user = await User.select(*_USER_COLUMNS).where(User.id == user_id).first()
    orders = await BillingOrder.select().where(BillingOrder.user == user_id).order_by(BillingOrder.created_at)
    period = await BillingPeriod.select().where(BillingPeriod.user == user_id).first()
    jobs = await Job.select().where(Job.owner == user_id).order_by(Job.created_at)
    images = await Image.select().where(Image.owner == user_id).order_by(Image.created_at)
    ratings = await Rating.select(Rating.image, Rating.stars, Rating.created_at, Rating.updated_at).where(
        Rating.rater == user_id
    )
    keys = await ApiKey.select(
        ApiKey.id, ApiKey.name, ApiKey.prefix, ApiKey.created_at, ApiKey.last_used_at, ApiKey.disabled_at
    ).where(ApiKey.user == user_id)
    return {
        "format": "housify-export/1",
        "exported_at": datetime.now(UTC),
        "account": user,
        "paid_period": period,
        "orders": orders,
        "jobs": jobs,
        "pictures": images,
        "ratings_given": ratings,
        "api_keys": keys,
    }


def _picture_name(image: dict[str, Any]) -> str:
    suffix = PurePosixPath(image["storage_key"]).suffix or ".bin"
    return f"pictures/{image['id']}{suffix}"


async def export_stream(user_id: UUID, store: ImageStore) -> AsyncIterator[bytes]:
    """The ZIP's bytes, chunk by chunk."""
    sink = _Sink()
    missing: list[str] = []
    document = await account_document(user_id)
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        archive.writestr("account.json", msgspec.json.format(msgspec.json.encode(document)))
        yield sink.drain()
        for image in document["pictures"]:
            name = _picture_name(image)
            try:
                opened = await store.get_stream(image["storage_key"])
            except Exception as exc:  # noqa: BLE001 - a lost file must not cut the whole download
                log.warning("export of %s: picture %s unreadable: %s", user_id, image["id"], exc)
                missing.append(name)
                continue
            info = zipfile.ZipInfo(name, date_time=_zip_time(image["created_at"]))
            info.compress_type = zipfile.ZIP_STORED
            with archive.open(info, mode="w", force_zip64=True) as entry:
                async for chunk in opened.chunks:
                    entry.write(chunk)
                    yield sink.drain()
            yield sink.drain()
        report = {"pictures": len(document["pictures"]), "missing": missing}
        archive.writestr("export-report.json", msgspec.json.encode(report))
    yield sink.drain()


def _zip_time(value: datetime | None) -> tuple[int, int, int, int, int, int]:
    when = (value or datetime.now(UTC)).astimezone(UTC)
    return (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
