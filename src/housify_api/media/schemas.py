"""Request and response bodies of the media routes (msgspec Structs at the edge).

Field names follow the contract (``housify_ai.contract``) where they overlap,
so a client can move values between a job and its request unchanged.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from housify_ai.contract import MAX_GUIDANCE, MAX_PROMPT_CHARS, MAX_SEED, MAX_SIDE, MAX_STEPS, MIN_SIDE

Stars = Annotated[int, Meta(ge=1, le=5, description="1 to 5 stars")]
Title = Annotated[str, Meta(max_length=200)]
Side = Annotated[int, Meta(ge=MIN_SIDE, le=MAX_SIDE, multiple_of=8, description="pixels, a multiple of 8")]


class RatingSummary(msgspec.Struct, kw_only=True):
    """``average`` stars (``null`` while unrated) over ``count`` ratings; ``mine`` is the caller's own."""

    average: float | None
    count: int
    mine: int | None = None


class ImageOut(msgspec.Struct, kw_only=True):
    """A picture. ``url``/``thumb_url`` are paths under this API; ``size_bytes`` counts picture + thumbnail."""

    id: UUID
    owner_id: UUID
    kind: Literal["upload", "generated"]
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
    job_id: UUID | None = None


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


class JobIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /jobs``.

    ``source_image_id`` (img2img, inpaint) and ``mask_image_id`` (inpaint; white
    = repaint, same width and height as the source) are ids of the caller's own
    images (uploads or earlier results). Limits are the contract's: sides
    64–1024 in steps of 8, 1–100 steps, guidance 0–30, strength in (0, 1].
    """

    task: Literal["text2img", "img2img", "inpaint"] = "text2img"
    prompt: Annotated[str, Meta(min_length=1, max_length=MAX_PROMPT_CHARS)]
    negative_prompt: Annotated[str, Meta(max_length=MAX_PROMPT_CHARS)] = ""
    width: Side = 512
    height: Side = 512
    steps: Annotated[int, Meta(ge=1, le=MAX_STEPS)] = 25
    guidance_scale: Annotated[float, Meta(ge=0.0, le=MAX_GUIDANCE)] = 7.5
    strength: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.75
    seed: Annotated[int, Meta(ge=0, le=MAX_SEED)] | None = None
    source_image_id: UUID | None = None
    mask_image_id: UUID | None = None
    title: Title = ""
    public: bool = False


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
    events_url: str = ""
