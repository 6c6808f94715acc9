"""Public pictures: ``GET /gallery`` (newest or best first, cursor pages) and the front page.

``sort=top`` orders by the plain average, then by the number of votes, over an
index; the front page (``featured``) ranks by the Bayesian average of
:mod:`housify_api.media.ranking` so one 5-star vote cannot top it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any, Literal
from uuid import UUID

from housify_api.media.presenters import image_out, page_of
from housify_api.media.ranking import score_sql, site_mean
from housify_api.media.schemas import FeaturedImage, ImageOut
from housify_api.media.tables import Image
from housify_api.pagination import Page, after, clamp_limit, decode_cursor

Sort = Literal["top", "new"]


async def gallery(*, sort: Sort, cursor: str | None, limit: int) -> Page[ImageOut]:
    """Public pictures; ``new``: newest first; ``top``: highest average, then most votes.

    Raises:
        CursorError: a cursor this list (with this ``sort``) did not issue.
    """
    limit = clamp_limit(limit)
    query = Image.select().where(Image.public == True)  # noqa: E712 - piccolo builds SQL from ==
    if sort == "new":
        columns: list[Any] = [Image.created_at, Image.id]
        types: tuple[type, ...] = (dt.datetime, UUID)
        key = lambda r: [r["created_at"], r["id"]]  # noqa: E731
    else:
        columns = [Image.rating_avg, Image.rating_count, Image.id]
        types = (float, int, UUID)
        key = lambda r: [r["rating_avg"], r["rating_count"], r["id"]]  # noqa: E731
    if cursor:
        query = query.where(after(columns, decode_cursor(cursor, types)))
    rows = await query.order_by(*columns, ascending=False).limit(limit + 1)
    return page_of(rows, limit, key)


class FeaturedCache:
    """The computed front page, reused for ``ttl`` seconds.

    One computation at a time (single flight); while it runs, other requests
    get the previous page rather than queueing behind it (stale while revalidate).
    What is reused is the ranking: every answer re-reads which of its pictures
    are still public (one primary-key query), so a picture made private or
    deleted leaves the front page at once on every API instance, and its URLs
    are signed per answer (they never outlive the caching rule's window).
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[int, int], tuple[float, list[dict[str, Any]]]] = {}
        self._lock = asyncio.Lock()

    async def get(self, *, limit: int, prior_votes: int) -> list[FeaturedImage]:
        return await _still_public(await self._ranked(clamp_limit(limit), prior_votes))

    async def _ranked(self, limit: int, prior_votes: int) -> list[dict[str, Any]]:
        key = (limit, prior_votes)
        if self.ttl <= 0:
            return await ranked(limit=limit, prior_votes=prior_votes)
        hit = self._entries.get(key)
        if hit and (time.monotonic() - hit[0] < self.ttl or self._lock.locked()):
            return hit[1]
        async with self._lock:
            hit = self._entries.get(key)
            if hit and time.monotonic() - hit[0] < self.ttl:
                return hit[1]
            rows = await ranked(limit=limit, prior_votes=prior_votes)
            self._entries[key] = (time.monotonic(), rows)
            return rows


async def _still_public(rows: list[dict[str, Any]]) -> list[FeaturedImage]:
    if not rows:
        return []
    public = {
        r["id"]
        for r in await Image.select(Image.id).where(Image.id.is_in([r["id"] for r in rows]) & (Image.public == True))  # noqa: E712
    }
    return [
        image_out(row, cls=FeaturedImage, score=round(float(row["score"]), 4)) for row in rows if row["id"] in public
    ]


async def featured(*, limit: int, prior_votes: int) -> list[FeaturedImage]:
    """The ``limit`` best rated public pictures by Bayesian average (``prior_votes`` is ``m``)."""
    return await _still_public(await ranked(limit=limit, prior_votes=prior_votes))


async def ranked(*, limit: int, prior_votes: int) -> list[dict[str, Any]]:
    """The rows (with ``score``) of the ``limit`` best rated public pictures by Bayesian average."""
    limit = clamp_limit(limit)
    totals = await Image.raw(
        "SELECT SUM(rating_sum) AS stars, SUM(rating_count) AS votes FROM media_images WHERE public = {}", True
    )
    mean = site_mean(totals[0]["stars"], totals[0]["votes"]) if totals else site_mean(None, None)
    score = score_sql("rating_sum", "rating_count")
    rows = await Image.raw(
        f"SELECT *, {score} AS score FROM media_images WHERE public = {{}} AND rating_count > 0 "
        "ORDER BY score DESC, id DESC LIMIT {}",
        mean * prior_votes,
        prior_votes,
        True,
        limit,
    )
    return list(rows)
