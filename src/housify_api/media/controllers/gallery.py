"""``/gallery``: public pictures for everyone, and the front page."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, Parameter

from housify_api.media import gallery
from housify_api.media.schemas import FeaturedImage, ImageOut
from housify_api.media.services import MediaServices
from housify_api.pagination import DEFAULT_LIMIT, Cursor, Page


class GalleryController(Controller):
    path = "/gallery"
    tags = ["gallery"]
    opt = {"exclude_from_auth": True}

    @get("/", operation_id="gallery", summary="Public pictures: sort=new (newest first) or top (best average)")
    async def listing(
        self,
        sort: FromQuery[Literal["top", "new"]] = "new",
        cursor: Cursor = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = DEFAULT_LIMIT,
    ) -> Page[ImageOut]:
        return await gallery.gallery(sort=sort, cursor=cursor, limit=limit)

    @get("/featured", operation_id="galleryFeatured", summary="Front page: best rated by Bayesian average")
    async def featured(
        self, media: NamedDependency[MediaServices], limit: Annotated[int, Parameter(ge=1, le=100)] = 12
    ) -> list[FeaturedImage]:
        """Ranked by ``(C*m + stars) / (m + votes)`` (IMDb weighted rating; see ``housify_api.media.ranking``);
        computed at most every ``HOUSIFY_MEDIA_FEATURED_CACHE_SECONDS`` per API instance."""
        return await media.featured.get(limit=limit, prior_votes=media.settings.featured_prior_votes)
