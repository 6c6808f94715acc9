"""``GET /media/{pub|own}/<key>``: signed picture URLs, when nginx does not answer them itself."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import File, Stream

from housify_api.media import picture_urls
from housify_api.media.services import MediaServices
from housify_api.system.error_docs import documented


class MediaFileController(Controller):
    path = "/media"
    tags = ["images"]
    opt = {"exclude_from_auth": True}
    include_in_schema = False  # URLs come from image answers; clients do not build them

    @get(
        "/{visibility:str}/{key:path}",
        operation_id="getSignedMedia",
        raises=[
            documented(403, "media URL: the signature does not match"),
            documented(410, "media URL: expired; fetch the listing again"),
            documented(503, "image storage unavailable"),
        ],
    )
    async def read(
        self,
        visibility: FromPath[Literal["pub", "own"]],
        key: FromPath[str],
        media: NamedDependency[MediaServices],
        md5: FromQuery[str] = "",
        expires: FromQuery[str] = "",
    ) -> Response[Any] | File | Stream:
        """The standalone's (and a bare API's) check of the token nginx's secure_link checks at the edge."""
        return await picture_urls.serve_signed(media.store, media.settings, visibility, key.lstrip("/"), md5, expires)
