"""piccolo tables for images, jobs, ratings and storage use (app ``housify_media``).

Table names carry a ``media_`` prefix so the all-in-one database of
``housify standalone`` and the tests has no clash with other apps.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import msgspec
from piccolo.columns import (
    JSON,
    UUID,
    BigInt,
    Boolean,
    DoublePrecision,
    ForeignKey,
    Integer,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from housify_api.tables import User


class ImageKind(str, Enum):
    """What a stored picture is. ``mask`` (an inpaint's painted mask, uploaded with ``purpose=mask``)
    and ``control`` (a redesign's control image, made by the worker) belong to their job: never in
    History, never public, not charged to storage (:data:`INTERNAL_KINDS`)."""

    upload = "upload"
    generated = "generated"
    mask = "mask"
    control = "control"


#: Kinds that belong to a job, not to the user's pictures.
INTERNAL_KINDS = frozenset({ImageKind.mask.value, ImageKind.control.value})
#: Picture kinds History lists.
PICTURE_KINDS = (ImageKind.upload.value, ImageKind.generated.value)


class JobStatus(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


#: States a job never leaves.
FINAL_STATUSES = frozenset({JobStatus.succeeded.value, JobStatus.failed.value, JobStatus.cancelled.value})


class Image(Table, tablename="media_images"):
    """A stored picture: an upload or a generated result.

    ``size_bytes`` counts the picture and its thumbnail (what the owner's
    storage quota pays for). ``rating_sum``/``rating_count`` are kept with the
    ratings in one transaction; ``rating_avg`` (0 when unrated) is stored so
    ``GET /gallery?sort=top`` pages over an index.
    """

    id = UUID(primary_key=True)
    owner = ForeignKey(references=User, null=False, index=True)
    kind = Varchar(length=16, choices=ImageKind)
    storage_key = Varchar(length=200)
    thumb_key = Varchar(length=200)
    content_type = Varchar(length=32)
    size_bytes = BigInt()
    width = Integer()
    height = Integer()
    title = Varchar(length=200, default="")
    public = Boolean(default=False, index=True)
    rating_sum = Integer(default=0)
    rating_count = Integer(default=0)
    rating_avg = DoublePrecision(default=0.0, index=True)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class Job(Table, tablename="media_jobs"):
    """A generation job (text2img, img2img, inpaint) as the API knows it.

    ``params`` holds the validated ``JobRequest`` parameters; ``image`` is the
    result once the results consumer records it.
    """

    id = UUID(primary_key=True)
    owner = ForeignKey(references=User, null=False, index=True)
    task = Varchar(length=16)
    params = JSON()
    status = Varchar(length=16, choices=JobStatus, default=JobStatus.queued.value, index=True)
    level = Varchar(length=64)
    watermark = Boolean(default=False)
    image = ForeignKey(references=Image, null=True, on_delete=OnDelete.set_null)
    error = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)


def job_params(row: dict[str, Any]) -> dict[str, Any]:
    """A ``media_jobs`` row's ``params`` as a dict: piccolo hands the JSON column back decoded on
    PostgreSQL (asyncpg's JSON codec) and as its JSON text on SQLite."""
    params = row["params"]
    return params if isinstance(params, dict) else msgspec.json.decode(params)


class Rating(Table, tablename="media_ratings"):
    """One user's 1–5 stars for one image.

    Unique per (image, rater): piccolo has no composite unique constraint, so the
    migration creates the unique index ``media_ratings_image_rater`` with raw SQL;
    ``PUT /images/{id}/rating`` upserts against it.
    """

    id = UUID(primary_key=True)
    image = ForeignKey(references=Image, null=False, on_delete=OnDelete.cascade, index=True)
    rater = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade)
    stars = SmallInt()
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class StorageUse(Table, tablename="media_storage_use"):
    """Bytes of image storage each user holds: one row per user, changed only by
    conditional ``UPDATE ... SET bytes_used = bytes_used + n WHERE bytes_used + n <= limit``
    so concurrent uploads cannot pass the quota together.
    """

    owner = ForeignKey(references=User, null=False, unique=True)
    bytes_used = BigInt(default=0)
