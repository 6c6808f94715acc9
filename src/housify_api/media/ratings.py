"""Star ratings: one per user per picture, kept in step with the picture's totals.

A rating change runs in one transaction that first touches the picture's row
(a no-op ``UPDATE`` that takes its row lock on PostgreSQL and the write lock
on SQLite), then upserts the rating and recomputes ``rating_sum``,
``rating_count`` and ``rating_avg`` from the ratings table. Concurrent raters
of one picture are thereby serialised, and each recount sees every committed
rating (READ COMMITTED takes a fresh snapshot per statement), so the totals
never drift.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from piccolo.query.functions.aggregate import Count, Sum

from housify_api.auth.identity import AuthUser
from housify_api.media.images import find_visible
from housify_api.media.schemas import RatingSummary
from housify_api.media.tables import Image, Rating
from housify_api.tables import User


async def _recount(image_id: UUID) -> RatingSummary:
    totals = (
        await Rating.select(Sum(Rating.stars, alias="total"), Count(alias="votes"))
        .where(Rating.image == image_id)
        .first()
    )
    totals = totals or {}
    total, votes = int(totals.get("total") or 0), int(totals.get("votes") or 0)
    average = total / votes if votes else 0.0
    await Image.update({Image.rating_sum: total, Image.rating_count: votes, Image.rating_avg: average}).where(
        Image.id == image_id
    )
    return RatingSummary(average=round(average, 3) if votes else None, count=votes)


async def require_verified(user: AuthUser) -> None:
    """403 unless the caller's address is verified: a rating sets the Featured order, and every throw-away
    account would otherwise be a vote (issue 21 item 8; docs/security.md "Ratings")."""
    row = await User.select(User.email_verified).where(User.id == user.id).first()
    if row is None or not row["email_verified"]:
        raise PermissionDeniedException("verify your e-mail address to rate pictures (POST /auth/verify-email/request)")


async def withdraw_all(rater_id: UUID) -> int:
    """Remove every rating of ``rater_id`` and recount the pictures they were on, in one transaction.

    The account deletion hook: the rows would go by cascade with the user, but the pictures' totals
    would keep the votes with nothing left to trace them. Returns how many pictures were recounted.
    """
    async with Image._meta.db.transaction():
        gone = await Rating.delete().where(Rating.rater == rater_id).returning(Rating.image)
        images = sorted({row["image"] for row in gone}, key=str)
        for image_id in images:  # in id order: two concurrent deletions lock rows alike
            await Image.update({Image.rating_count: Image.rating_count + 0}).where(Image.id == image_id)
            await _recount(image_id)
    return len(images)


async def rate(image_id: UUID, user: AuthUser, stars: int, *, create_only: bool = False) -> tuple[RatingSummary, bool]:
    """Set the caller's stars (1–5) on a picture they can see; returns the new totals and whether it was new.

    ``create_only`` (``If-None-Match: *``) refuses to replace an existing rating.

    Raises:
        NotFoundException: picture not visible to the caller.
        PermissionDeniedException: the caller's own picture, or the caller's address is not verified.
        HTTPException: 412 with ``create_only`` when the caller rated it already.
    """
    row = await find_visible(image_id, user)
    if row["owner"] == user.id:
        raise PermissionDeniedException("you cannot rate your own image")
    await require_verified(user)
    now = dt.datetime.now(dt.UTC)
    async with Image._meta.db.transaction():
        await Image.update({Image.rating_count: Image.rating_count + 0}).where(Image.id == image_id)
        existing = await Rating.select(Rating.id).where((Rating.image == image_id) & (Rating.rater == user.id)).first()
        if existing and create_only:
            raise HTTPException(status_code=412, detail="you have rated this image already (If-None-Match: *)")
        if existing:
            await Rating.update({Rating.stars: stars, Rating.updated_at: now}).where(Rating.id == existing["id"])
        else:
            await Rating.insert(Rating(image=image_id, rater=user.id, stars=stars, created_at=now, updated_at=now))
        summary = await _recount(image_id)
    summary.mine = stars
    return summary, existing is None


async def unrate(image_id: UUID, user: AuthUser) -> RatingSummary:
    """Withdraw the caller's rating.

    Raises:
        NotFoundException: picture not visible, or no rating of the caller on it.
    """
    await find_visible(image_id, user)
    async with Image._meta.db.transaction():
        await Image.update({Image.rating_count: Image.rating_count + 0}).where(Image.id == image_id)
        gone = await Rating.delete().where((Rating.image == image_id) & (Rating.rater == user.id)).returning(Rating.id)
        if not gone:
            raise NotFoundException("you have not rated this image")
        return await _recount(image_id)
