"""Pictures: upload, history, read, edit, delete — and who may do what.

Visibility: the owner and admins see every picture; anyone (even without a
login) sees public ones; other pictures answer 404 to everyone else, so ids
of private pictures are not confirmed. Changing or deleting needs the owner
or an admin (403 for others who can see the picture).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import msgspec
from litestar import Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import File, Stream

from housify_api.auth.identity import AuthUser
from housify_api.media import quota
from housify_api.media.decoder import Decoder
from housify_api.media.delivery import send_bytes
from housify_api.media.presenters import image_out, page_of, recipe_out
from housify_api.media.schemas import ImageOut, ImagePatch
from housify_api.media.tables import INTERNAL_KINDS, PICTURE_KINDS, Image, ImageKind, Job, Rating
from housify_api.media.upload_limits import upload_slot
from housify_api.media.uploads import UploadRejected
from housify_api.pagination import Page, after, clamp_limit, decode_cursor
from housify_api.plans.service import Level
from housify_api.settings import MediaSettings
from housify_common.redis import RedisClient, RedisKeys
from housify_common.storage import ImageStore, StorageUnavailable
from housify_common.storage.signing import cache_control

log = logging.getLogger("housify.media")

#: Masks a user keeps (``purpose=mask`` uploads); older ones go as new ones come.
MASKS_KEPT = 20


def _may_manage(row: dict[str, Any], user: AuthUser | None) -> bool:
    return user is not None and user.may_manage(row["owner"])


async def find_visible(image_id: UUID, user: AuthUser | None) -> dict[str, Any]:
    """The row of a picture ``user`` may see (``None``: anonymous).

    Raises:
        NotFoundException: unknown, or private and not the caller's.
    """
    row = await Image.select().where(Image.id == image_id).first()
    if row is None or not (row["public"] or _may_manage(row, user)):
        raise NotFoundException(f"image {image_id} not found")
    return row


async def find_managed(image_id: UUID, user: AuthUser) -> dict[str, Any]:
    """The row of a picture ``user`` may change: their own, or any for an admin.

    Raises:
        NotFoundException: as :func:`find_visible`.
        PermissionDeniedException: a public picture of someone else.
    """
    row = await find_visible(image_id, user)
    if not _may_manage(row, user):
        raise PermissionDeniedException("only the owner or an admin may change this image")
    return row


async def _row(image_id: UUID) -> dict[str, Any]:
    row = await Image.select().where(Image.id == image_id).first()
    if row is None:  # deleted between the write and this read
        raise NotFoundException(f"image {image_id} not found")
    return row


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageService:
    """Pictures over the image store (``settings.storage``, docs/storage.md) and the media settings.

    Attributes:
        store: where the picture and thumbnail bytes live.
        settings: ``ApiSettings.media`` (pixel, side and aspect caps, upload limits, ``X-Accel-Redirect`` prefix).
        decoder: the processes that decode uploads under a memory cap (``housify_api.media.decoder``).
        redis: the Redis client the per-user upload limits count in (``keys`` names the counters).
    """

    store: ImageStore
    settings: MediaSettings
    decoder: Decoder
    redis: RedisClient
    keys: RedisKeys

    def upload_slot(self, user: AuthUser) -> contextlib.AbstractAsyncContextManager[None]:
        """One of ``user``'s upload slots (per hour, in flight): hold it while receiving and decoding.
        Raises ``HTTPException`` 429 (``housify_api.media.upload_limits``)."""
        return upload_slot(self.redis, self.keys, user.id, self.settings)

    async def upload(
        self, user: AuthUser, limits: Level, data: bytes, *, title: str, public: bool, purpose: str = "picture"
    ) -> ImageOut:
        """Verify, clean and store an upload; charge its bytes to the user's storage.

        ``purpose="mask"``: an inpaint's mask, which belongs to its job (kind ``mask``): not listed in
        History, never public, not charged to storage; a user keeps the newest :data:`MASKS_KEPT`,
        older ones are deleted as new ones come.

        Raises:
            HTTPException: 413 over the level's upload size or storage limit, or the pixel cap;
                422 for anything but a complete PNG/JPEG/WebP image.
            StorageUnavailable: the store failed (503); nothing is recorded and the quota is freed.
        """
        if len(data) > limits.upload_size_limit_bytes:
            raise HTTPException(
                status_code=413,
                detail=f"file: {quota.describe(len(data))} is over the upload limit of your level "
                f"({limits.name}: {quota.describe(limits.upload_size_limit_bytes)})",
            )
        try:
            clean = await self.decoder.clean(
                data,
                max_pixels=self.settings.max_image_pixels,
                max_side=self.settings.max_image_side,
                max_aspect_ratio=self.settings.max_aspect_ratio,
            )
        except UploadRejected as exc:
            raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
        internal = purpose == "mask"
        size = 0 if internal else len(clean.data) + len(clean.thumbnail)
        await quota.reserve(user.id, size, limits.storage_limit_bytes)
        image_id = uuid.uuid4()
        key, thumb_key = f"images/{image_id}.{clean.extension}", f"thumbs/{image_id}.webp"
        try:
            await self.store.put(key, clean.data)
            await self.store.put(thumb_key, clean.thumbnail)
            row = Image(
                id=image_id,
                owner=user.id,
                kind=ImageKind.mask.value if internal else ImageKind.upload.value,
                storage_key=key,
                thumb_key=thumb_key,
                content_type=clean.content_type,
                size_bytes=size,
                width=clean.width,
                height=clean.height,
                title=title,
                public=public and not internal,
                created_at=dt.datetime.now(dt.UTC),
            )
            await row.save()
        except BaseException:
            await quota.release(user.id, size)
            await self._remove_files(image_id, (key, thumb_key))
            raise
        if internal:
            await self._drop_old_masks(user.id)
        return image_out(await _row(image_id))

    async def _drop_old_masks(self, owner: UUID) -> None:
        """Delete the owner's masks beyond the newest :data:`MASKS_KEPT` (their jobs have long read them)."""
        # Sliced here, not by OFFSET: SQLite (the standalone) takes no OFFSET without a LIMIT, and piccolo refuses it.
        masks = (
            await Image.select(Image.id, Image.storage_key, Image.thumb_key)
            .where((Image.owner == owner) & (Image.kind == ImageKind.mask.value))
            .order_by(Image.created_at, Image.id, ascending=False)
        )
        old = masks[MASKS_KEPT:]
        if old:
            await Image.delete().where(Image.id.is_in([row["id"] for row in old]))
            for row in old:
                await self._remove_files(row["id"], (row["storage_key"], row["thumb_key"]))

    async def history(self, user: AuthUser, *, kind: str | None, cursor: str | None, limit: int) -> Page[ImageOut]:
        """The caller's pictures, newest first; ``kind`` filters ``upload``/``generated``.

        Raises:
            CursorError: a ``cursor`` this list did not issue (400 by the app's exception handler).
        """
        limit = clamp_limit(limit)
        query = Image.select().where((Image.owner == user.id) & Image.kind.is_in(list(PICTURE_KINDS)))
        if kind:
            query = query.where(Image.kind == kind)
        if cursor:
            created_at, image_id = decode_cursor(cursor, (dt.datetime, UUID))
            query = query.where(after([Image.created_at, Image.id], [created_at, image_id]))
        rows = await query.order_by(Image.created_at, Image.id, ascending=False).limit(limit + 1)
        return page_of(rows, limit, lambda r: [r["created_at"], r["id"]])

    async def read(self, image_id: UUID, user: AuthUser | None) -> ImageOut:
        """One picture with the caller's own rating (``rating.mine``) when logged in."""
        row = await find_visible(image_id, user)
        mine = None
        if user is not None:
            rating = (
                await Rating.select(Rating.stars).where((Rating.image == image_id) & (Rating.rater == user.id)).first()
            )
            mine = rating["stars"] if rating else None
        job = None
        if row["kind"] == ImageKind.generated and _may_manage(row, user):  # a job's prompt and source are its owner's
            job = await Job.select().where(Job.image == image_id).first()
        return image_out(row, mine=mine, job_id=job["id"] if job else None, recipe=recipe_out(job) if job else None)

    async def update(self, image_id: UUID, user: AuthUser, patch: ImagePatch) -> ImageOut:
        """Change title and/or public flag (owner or admin).

        Raises:
            HTTPException: 422 publishing a mask or control image (they belong to their job).
        """
        row = await find_managed(image_id, user)
        if patch.public is True and row["kind"] in INTERNAL_KINDS:
            raise HTTPException(
                status_code=422, detail=f"public: a {row['kind']} image belongs to its job and cannot be published"
            )
        values = {
            name: value
            for name, value in (("title", patch.title), ("public", patch.public))
            if value is not msgspec.UNSET
        }
        if values:
            await Image.update({getattr(Image, name): value for name, value in values.items()}).where(
                Image.id == image_id
            )
        return await self.read(image_id, user)

    async def delete(self, image_id: UUID, user: AuthUser) -> None:
        """Delete a picture, its ratings and files, and free its bytes from the owner's quota."""
        row = await find_managed(image_id, user)
        deleted = await Image.delete().where(Image.id == image_id).returning(Image.id)
        if not deleted:  # a concurrent DELETE won; it freed the quota
            return
        await quota.release(row["owner"], int(row["size_bytes"]))
        await self._remove_files(image_id, (row["storage_key"], row["thumb_key"]))

    async def purge_owner(self, owner_id: UUID) -> int:
        """Delete every picture of an account that is being deleted: rows, ratings and files.

        The accounts service's deletion hook, run before the user row goes (the rows would
        cascade, but the files would stay in the store). Returns how many pictures went.
        """
        rows = (
            await Image.delete().where(Image.owner == owner_id).returning(Image.id, Image.storage_key, Image.thumb_key)
        )
        for row in rows:
            await self._remove_files(row["id"], (row["storage_key"], row["thumb_key"]))
        return len(rows)

    async def _remove_files(self, image_id: Any, keys: tuple[str, str]) -> None:
        for key in keys:
            try:
                await self.store.delete(key)
            except (OSError, StorageUnavailable) as exc:  # the row is gone; a leftover file is logged, not fatal
                log.warning("image %s: could not delete %s: %s", image_id, key, exc)

    async def content(
        self, row: dict[str, Any], *, size: str, if_none_match: str | None
    ) -> Response[bytes] | File | Stream:
        """The bytes of a picture (``size`` ``full`` or ``thumb``) for a caller allowed to see it.

        For API clients; listings hand out signed URLs instead (:mod:`housify_api.media.picture_urls`).
        ``Cache-Control`` follows the caching rule (``private``/``public, max-age=60``,
        :func:`housify_common.storage.signing.cache_control`); access is checked on
        every request, so no fetch succeeds after access ends. Conditional requests:
        ``If-None-Match`` with the ``ETag`` answers 304.

        Raises:
            NotFoundException: the file is missing from storage (logged).
            StorageUnavailable: the store failed (503).
        """
        key = row["thumb_key"] if size == "thumb" else row["storage_key"]
        content_type = "image/webp" if size == "thumb" else row["content_type"]
        tag = f"{row['id']}-{size}"
        headers = {"Cache-Control": cache_control(bool(row["public"])), "X-Content-Type-Options": "nosniff"}
        if if_none_match and (
            if_none_match.strip() == "*"
            or f'"{tag}"' in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        ):
            return Response(b"", status_code=304, headers={**headers, "ETag": f'"{tag}"'})
        return await send_bytes(
            self.store,
            self.settings,
            key,
            content_type,
            headers={**headers, "ETag": f'"{tag}"'},
            what=f"image {row['id']}",
        )
