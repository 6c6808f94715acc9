"""Pictures: upload, history, read, edit, delete — and who may do what.

Visibility: the owner and admins see every picture; anyone (even without a
login) sees public ones; other pictures answer 404 to everyone else, so ids
of private pictures are not confirmed. Changing or deleting needs the owner
or an admin (403 for others who can see the picture).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from uuid import UUID

import msgspec
from litestar import Response
from litestar.datastructures import ETag
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import File, Stream

from housify_api.auth.identity import AuthUser
from housify_api.media import quota
from housify_api.media.picture_urls import picture_urls
from housify_api.media.schemas import ImageOut, ImagePatch, RatingSummary
from housify_api.media.tables import Image, ImageKind, Job, Rating
from housify_api.media.uploads import UploadRejected, clean_upload
from housify_api.pagination import Page, after, clamp_limit, decode_cursor, encode_cursor
from housify_api.plans.service import Level
from housify_common.storage import StorageUnavailable
from housify_common.storage.signing import cache_control

if TYPE_CHECKING:
    from housify_api.media.services import MediaServices

log = logging.getLogger("housify.media")

Out = TypeVar("Out", bound=ImageOut)


def image_out(row: dict[str, Any], *, mine: int | None = None, cls: type[Out] = ImageOut, **extra: Any) -> Out:  # type: ignore[assignment]
    """The API shape of a ``media_images`` row (a ``select()`` dict)."""
    count = int(row["rating_count"])
    return cls(
        id=row["id"],
        owner_id=row["owner"],
        kind=row["kind"],
        title=row["title"],
        public=bool(row["public"]),
        content_type=row["content_type"],
        width=int(row["width"]),
        height=int(row["height"]),
        size_bytes=int(row["size_bytes"]),
        created_at=row["created_at"],
        rating=RatingSummary(
            average=round(int(row["rating_sum"]) / count, 3) if count else None, count=count, mine=mine
        ),
        **picture_urls(row),
        **extra,
    )


def _can_manage(row: dict[str, Any], user: AuthUser | None) -> bool:
    return user is not None and (user.is_admin or row["owner"] == user.id)


async def find_visible(image_id: UUID, user: AuthUser | None) -> dict[str, Any]:
    """The row of a picture ``user`` may see (``None``: anonymous).

    Raises:
        NotFoundException: unknown, or private and not the caller's.
    """
    row = await Image.select().where(Image.id == image_id).first()
    if row is None or not (row["public"] or _can_manage(row, user)):
        raise NotFoundException(f"image {image_id} not found")
    return row


async def find_managed(image_id: UUID, user: AuthUser) -> dict[str, Any]:
    """The row of a picture ``user`` may change: their own, or any for an admin.

    Raises:
        NotFoundException: as :func:`find_visible`.
        PermissionDeniedException: a public picture of someone else.
    """
    row = await find_visible(image_id, user)
    if not _can_manage(row, user):
        raise PermissionDeniedException("only the owner or an admin may change this image")
    return row


async def upload(
    ctx: MediaServices, user: AuthUser, limits: Level, data: bytes, *, title: str, public: bool
) -> ImageOut:
    """Verify, clean and store an upload; charge its bytes to the user's storage.

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
        clean = await asyncio.to_thread(clean_upload, data, max_pixels=ctx.settings.max_image_pixels)
    except UploadRejected as exc:
        raise HTTPException(status_code=exc.status_code, detail=str(exc)) from exc
    size = len(clean.data) + len(clean.thumbnail)
    await quota.reserve(user.id, size, limits.storage_limit_bytes)
    image_id = uuid.uuid4()
    key, thumb_key = f"images/{image_id}.{clean.extension}", f"thumbs/{image_id}.webp"
    try:
        await ctx.store.put(key, clean.data)
        await ctx.store.put(thumb_key, clean.thumbnail)
        row = Image(
            id=image_id,
            owner=user.id,
            kind=ImageKind.upload.value,
            storage_key=key,
            thumb_key=thumb_key,
            content_type=clean.content_type,
            size_bytes=size,
            width=clean.width,
            height=clean.height,
            title=title,
            public=public,
            created_at=dt.datetime.now(dt.UTC),
        )
        await row.save()
    except BaseException:
        await quota.release(user.id, size)
        await _remove_files(ctx, image_id, (key, thumb_key))
        raise
    return image_out(await _row(image_id))


async def _row(image_id: UUID) -> dict[str, Any]:
    row = await Image.select().where(Image.id == image_id).first()
    if row is None:  # deleted between the write and this read
        raise NotFoundException(f"image {image_id} not found")
    return row


async def history(user: AuthUser, *, kind: str | None, cursor: str | None, limit: int) -> Page[ImageOut]:
    """The caller's pictures, newest first; ``kind`` filters ``upload``/``generated``.

    Raises:
        CursorError: a ``cursor`` this list did not issue (400 by the app's exception handler).
    """
    limit = clamp_limit(limit)
    query = Image.select().where(Image.owner == user.id)
    if kind:
        query = query.where(Image.kind == kind)
    if cursor:
        created_at, image_id = decode_cursor(cursor, (dt.datetime, UUID))
        query = query.where(after([Image.created_at, Image.id], [created_at, image_id]))
    rows = await query.order_by(Image.created_at, Image.id, ascending=False).limit(limit + 1)
    return page_of(rows, limit, lambda r: [r["created_at"], r["id"]])


def page_of(rows: list[dict[str, Any]], limit: int, key: Any, **kwargs: Any) -> Page[ImageOut]:
    items = rows[:limit]
    next_cursor = encode_cursor(key(items[-1])) if len(rows) > limit else None
    return Page(items=[image_out(r, **kwargs) for r in items], next_cursor=next_cursor)


async def read(image_id: UUID, user: AuthUser | None) -> ImageOut:
    """One picture with the caller's own rating (``rating.mine``) when logged in."""
    row = await find_visible(image_id, user)
    mine = None
    if user is not None:
        rating = await Rating.select(Rating.stars).where((Rating.image == image_id) & (Rating.rater == user.id)).first()
        mine = rating["stars"] if rating else None
    job_id = None
    if row["kind"] == ImageKind.generated and _can_manage(row, user):  # a job's prompt and source are its owner's
        job = await Job.select(Job.id).where(Job.image == image_id).first()
        job_id = job["id"] if job else None
    return image_out(row, mine=mine, job_id=job_id)


async def update(image_id: UUID, user: AuthUser, patch: ImagePatch) -> ImageOut:
    """Change title and/or public flag (owner or admin)."""
    await find_managed(image_id, user)
    values = {
        name: value for name, value in (("title", patch.title), ("public", patch.public)) if value is not msgspec.UNSET
    }
    if values:
        await Image.update({getattr(Image, name): value for name, value in values.items()}).where(Image.id == image_id)
    return await read(image_id, user)


async def delete(ctx: MediaServices, image_id: UUID, user: AuthUser) -> None:
    """Delete a picture, its ratings and files, and free its bytes from the owner's quota."""
    row = await find_managed(image_id, user)
    deleted = await Image.delete().where(Image.id == image_id).returning(Image.id)
    if not deleted:  # a concurrent DELETE won; it freed the quota
        return
    await quota.release(row["owner"], int(row["size_bytes"]))
    await _remove_files(ctx, image_id, (row["storage_key"], row["thumb_key"]))


async def _remove_files(ctx: MediaServices, image_id: Any, keys: tuple[str, str]) -> None:
    for key in keys:
        try:
            await ctx.store.delete(key)
        except (OSError, StorageUnavailable) as exc:  # the row is gone; a leftover file is logged, not fatal
            log.warning("image %s: could not delete %s: %s", image_id, key, exc)


async def purge_owner(ctx: MediaServices, owner_id: UUID) -> int:
    """Delete every picture of an account that is being deleted: rows, ratings and files.

    Called by the accounts service before the user row goes (the rows would
    cascade, but the files would stay on disk). Returns how many pictures went.
    """
    rows = await Image.delete().where(Image.owner == owner_id).returning(Image.id, Image.storage_key, Image.thumb_key)
    for row in rows:
        await _remove_files(ctx, row["id"], (row["storage_key"], row["thumb_key"]))
    return len(rows)


async def content_response(
    ctx: MediaServices, row: dict[str, Any], *, size: str, if_none_match: str | None
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
        if_none_match.strip() == "*" or f'"{tag}"' in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    ):
        return Response(b"", status_code=304, headers={**headers, "ETag": f'"{tag}"'})
    return await send_bytes(ctx, key, content_type, headers={**headers, "ETag": f'"{tag}"'}, what=f"image {row['id']}")


async def send_bytes(
    ctx: MediaServices, key: str, content_type: str, *, headers: dict[str, str], what: str
) -> Response[bytes] | File | Stream:
    """The stored bytes of ``key`` with ``headers``.

    With ``HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX`` set the body is empty and
    ``X-Accel-Redirect`` sends nginx to its internal location: ``<prefix><key>``
    for a directory store, ``<prefix><bucket>/<key>?<presigned query>`` for S3
    (docs/storage.md). Without it the API sends the bytes itself (a file
    response, or a stream from the bucket).

    Raises:
        NotFoundException: ``key`` is missing from storage (logged with ``what``).
        StorageUnavailable: the store failed (503).
    """
    prefix = ctx.settings.accel_redirect_prefix
    if prefix:
        target = await ctx.store.accel_redirect(key, prefix)
        return Response(b"", media_type=content_type, headers={**headers, "X-Accel-Redirect": target})
    path = ctx.store.local_path(key)
    if path is not None:
        if not path.is_file():
            _missing(what, key)
        etag = headers.pop("ETag", None)
        return File(
            path=path,
            media_type=content_type,
            content_disposition_type="inline",
            headers=headers,
            etag=ETag(value=etag.strip('"')) if etag else None,
        )
    try:
        stream = await ctx.store.get_stream(key)
    except FileNotFoundError:
        _missing(what, key)
    return Stream(
        stream.chunks,
        media_type=content_type,
        headers={**headers, "Content-Length": str(stream.size), "Content-Disposition": "inline"},
    )


def _missing(what: str, key: str) -> NoReturn:
    log.error("%s: file %s missing from storage", what, key)
    raise NotFoundException(f"{what}: content missing")
