"""The API shapes of media rows: pure functions from a database row to a response Struct.

They read nothing and call no service: the use cases (:mod:`~housify_api.media.images`,
:mod:`~housify_api.media.jobs`, :mod:`~housify_api.media.gallery`) fetch the rows
and the live state, these turn them into the Structs of
:mod:`housify_api.media.schemas`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from housify_api.media.picture_urls import picture_urls
from housify_api.media.schemas import ImageOut, JobOut, RatingSummary, Recipe
from housify_api.media.tables import job_params
from housify_api.pagination import Page, encode_cursor

Out = TypeVar("Out", bound=ImageOut)


def image_out(row: dict[str, Any], *, mine: int | None = None, cls: type[Out] = ImageOut, **extra: Any) -> Out:  # type: ignore[assignment]
    """The API shape of a ``media_images`` row (a ``select()`` dict); ``mine`` is the caller's own stars."""
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


def page_of(
    rows: Sequence[dict[str, Any]], limit: int, key: Callable[[dict[str, Any]], list[Any]], **kwargs: Any
) -> Page[ImageOut]:
    """One page of pictures from ``limit + 1`` rows: the extra row only says that there is a next page,
    whose cursor is ``key`` of the page's last row (``housify_api.pagination``)."""
    items = rows[:limit]
    next_cursor = encode_cursor(key(items[-1])) if len(rows) > limit else None
    return Page(items=[image_out(r, **kwargs) for r in items], next_cursor=next_cursor)


def recipe_out(job: dict[str, Any]) -> Recipe:
    """A picture's :class:`Recipe` from the ``media_jobs`` row that drew it."""
    params = dict(job_params(job))
    common = {
        name: params.pop(name, None)
        for name in (
            "prompt",
            "negative_prompt",
            "written_prompt",
            "written_negative_prompt",
            "room_type",
            "style",
            "seed",
            "model",
            "source_image_id",
            "mask_image_id",
            "control_image_id",
        )
    }
    for name in ("title", "public", "batch", "count"):  # how it was filed, not how it was drawn
        params.pop(name, None)
    written, written_negative = common.pop("written_prompt"), common.pop("written_negative_prompt")
    return Recipe(
        job_id=job["id"],
        task=job["task"],
        prompt=written if written is not None else common.pop("prompt") or "",
        negative_prompt=written_negative if written_negative is not None else common.pop("negative_prompt") or "",
        room_type=common["room_type"],
        style=common["style"],
        seed=common["seed"],
        model=common["model"] or None,
        params=params,
        source_image_id=common["source_image_id"],
        mask_image_id=common["mask_image_id"],
        control_image_id=common["control_image_id"],
    )


def job_out(row: dict[str, Any]) -> JobOut:
    """The API shape of a ``media_jobs`` row, without live progress (``JobService`` adds that)."""
    out = JobOut(
        id=row["id"],
        task=row["task"],
        status=row["status"],
        level=row["level"],
        watermark=bool(row["watermark"]),
        params=job_params(row),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        image_id=row["image"],
        error=row["error"],
        events_url=f"/jobs/{row['id']}/events",
    )
    batch = out.params.get("batch")
    if batch:
        out.batch = [UUID(str(job_id)) for job_id in batch]  # type: ignore[attr-defined]
    return out
