"""Request and response bodies of the media routes (msgspec Structs at the edge).

Field names follow the contract (``housify_ai.contract``) where they overlap,
so a client can move values between a job and its request unchanged.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from housify_ai.tasks import MAX_PROMPT_CHARS, MAX_SEED, REGISTRY

Stars = Annotated[int, Meta(ge=1, le=5, description="1 to 5 stars")]
Title = Annotated[str, Meta(max_length=200)]


class RatingSummary(msgspec.Struct, kw_only=True):
    """``average`` stars (``null`` while unrated) over ``count`` ratings; ``mine`` is the caller's own."""

    average: float | None
    count: int
    mine: int | None = None


class ImageOut(msgspec.Struct, kw_only=True):
    """A picture; ``size_bytes`` counts picture + thumbnail.

    ``url``/``thumb_url``: short-lived signed URLs (paths on this host) that the edge
    serves without the API; use them as they are (no ``Authorization``). They work until
    ``urls_expire_at`` (2 to 4 minutes ahead; the same URLs for the same picture within
    a 2-minute window); fetch the listing again for new ones (docs/storage.md).

    ``recipe``: how it was made (:class:`Recipe`), beside ``job_id``, for the owner only.
    ``job_id``: the job that drew a generated picture, in ``GET /images/{id}`` for its owner
    (and admins) only; ``None`` in lists, for uploads and for other callers.
    """

    id: UUID
    owner_id: UUID
    kind: Literal["upload", "generated", "mask", "control"]
    title: str
    public: bool
    content_type: str
    width: int
    height: int
    size_bytes: int
    created_at: dt.datetime
    rating: RatingSummary
    url: str
    thumb_url: str
    urls_expire_at: dt.datetime
    job_id: UUID | None = None
    recipe: Recipe | None = None


class Recipe(msgspec.Struct, kw_only=True):
    """How a generated picture was made, for its owner: send these fields to ``POST /jobs`` to draw it
    again ("use these settings"), or change the prompt and keep ``seed`` for a variation.

    ``prompt``/``negative_prompt`` are the user's own words (the ``room_type`` and ``style`` presets'
    fragments are added again by ``POST /jobs``; jobs from before this field give the composed prompt);
    ``params`` holds the task's parameters as the job ran them (``width``, ``height``, ``steps``,
    ``guidance_scale``, ``strength``, ...); ``model`` is the model the AI worker reported; the image ids
    name the job's inputs (``source_image_id``: the picture it started from).
    """

    job_id: UUID
    task: str
    prompt: str
    negative_prompt: str
    room_type: str | None = None
    style: str | None = None
    seed: int | None = None
    model: str | None = None
    params: dict[str, Any]
    source_image_id: UUID | None = None
    mask_image_id: UUID | None = None
    control_image_id: UUID | None = None


class FeaturedImage(ImageOut, kw_only=True):
    """A front-page picture with its Bayesian ``score`` (see ``housify_api.media.ranking``)."""

    score: float


class ImagePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``PATCH /images/{id}``: fields left out stay as they are."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    public: bool | msgspec.UnsetType = msgspec.UNSET


class RatingIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``PUT /images/{id}/rating``."""

    stars: Stars


def _job_in() -> type[msgspec.Struct]:
    """``POST /jobs``'s body, derived from the task registry (``housify_ai.tasks``).

    One flat Struct: the common fields, an ``*_image_id`` field per input some
    task takes, and every task's parameter fields once (left out: the task's
    default). Which fields a task takes is checked in
    :func:`housify_api.media.jobs.submit`; two tasks declaring the same
    parameter name must declare the same type.
    """
    specs = list(REGISTRY.values())
    fields: list[tuple[str, object, object]] = [
        (
            "task",
            Annotated[Literal[tuple(REGISTRY)], Meta(description="; ".join(f"{s.name}: {s.summary}" for s in specs))],
            "text2img",
        ),
        (
            "prompt",
            Annotated[
                str, Meta(max_length=MAX_PROMPT_CHARS, description="what to draw; required by the tasks that draw")
            ],
            "",
        ),
        ("negative_prompt", Annotated[str, Meta(max_length=MAX_PROMPT_CHARS)], ""),
        ("seed", Annotated[int, Meta(ge=0, le=MAX_SEED)] | None, None),
    ]
    for name, need in (("source_image_id", "source"), ("mask_image_id", "mask"), ("control_image_id", "control")):
        users = [s.name for s in specs if getattr(s, need) != "none"]
        if users:
            fields.append(
                (
                    name,
                    Annotated[UUID, Meta(description=f"one of the caller's images; for {', '.join(users)}")] | None,
                    None,
                )
            )
    declared: dict[str, object] = {}
    for spec in specs:
        for info in msgspec.structs.fields(spec.params):
            if info.name in declared:
                if declared[info.name] != info.type:
                    raise TypeError(f"task {spec.name}: parameter {info.name!r} clashes with another task's type")
                continue
            declared[info.name] = info.type
            fields.append((info.name, info.type | msgspec.UnsetType, msgspec.UNSET))
    fields += [
        (
            "room_type",
            Annotated[str, Meta(max_length=80, description="a room-type preset's name or label (GET /presets)")] | None,
            None,
        ),
        (
            "style",
            Annotated[str, Meta(max_length=80, description="a style preset's name or label (GET /presets)")] | None,
            None,
        ),
        (
            "count",
            Annotated[
                int, Meta(ge=1, le=4, description="pictures: seeds seed ... seed+count-1, each its own job and image")
            ],
            1,
        ),
        ("title", Title, ""),
        ("public", bool, False),
    ]
    struct = msgspec.defstruct("JobIn", fields, kw_only=True, forbid_unknown_fields=True, module=__name__)
    struct.__doc__ = (
        "Body of ``POST /jobs``: ``task`` and the fields it takes (see the task list in ``task``). "
        "``room_type`` and ``style`` add a preset's prompt fragments; ``count`` (1-4) asks for variations, "
        "each counted against the hourly limit. "
        "Image ids are the caller's own images (uploads or earlier results); a mask (white = repaint) "
        "has the source's width and height. Parameters left out take the task's defaults."
    )
    return struct


if TYPE_CHECKING:  # a Struct generated from the task registry: opaque to the type checker
    JobIn = msgspec.Struct
else:
    JobIn = _job_in()


class JobProgress(msgspec.Struct, kw_only=True):
    step: int
    total: int


class JobOut(msgspec.Struct, kw_only=True):
    """A job. ``status``: queued, running, succeeded, failed, cancelled.

    ``detail`` explains a job that waits (e.g. no AI worker is running: the job
    stays queued and starts when one is). ``image_id`` is set on success.
    """

    id: UUID
    task: str
    status: str
    level: str
    watermark: bool
    params: dict[str, object]
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    image_id: UUID | None = None
    error: str | None = None
    progress: JobProgress | None = None
    detail: str | None = None
    batch: list[UUID] | None = None
    """Every job of the same ``POST /jobs`` (``count`` > 1), this one included."""
    events_url: str = ""
