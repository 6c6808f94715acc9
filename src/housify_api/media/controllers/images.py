"""``/images``: uploads, history, one picture, its bytes, ratings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.response import File, Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from housify_api.auth.identity import AuthUser
from housify_api.media import ratings
from housify_api.media.images import ImageService, find_visible
from housify_api.media.schemas import ImageOut, ImagePatch, RatingIn, RatingSummary
from housify_api.media.upload_form import read_upload_form
from housify_api.pagination import DEFAULT_LIMIT, Cursor, Page
from housify_api.plans.service import Level
from housify_api.system.error_docs import documented

PUBLIC = {"exclude_from_auth": True}
BAD_CREDENTIALS = documented(401, "credentials were sent but are invalid (anonymous callers send none)")
NOT_OWNER = documented(403, "only the owner or an admin may change this image")
STORAGE_DOWN = documented(503, "image storage unavailable (an upload is then not stored)")

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]


@dataclass
class UploadOperation(Operation):
    """The upload's multipart body in the schema: the handler reads the form itself (after the
    Content-Length check), so Litestar cannot infer it, and without it clients and fuzzers saw no body."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            content={
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["file"],
                        properties={
                            "file": Schema(
                                type=OpenAPIType.STRING,
                                format=OpenAPIFormat.BINARY,
                                description="PNG, JPEG or WebP; at most the level's upload limit",
                            ),
                            "title": Schema(type=OpenAPIType.STRING, max_length=200),
                            "public": Schema(type=OpenAPIType.STRING, enum=["true", "false", "1", "0"]),
                            "purpose": Schema(
                                type=OpenAPIType.STRING,
                                enum=["picture", "mask"],
                                description="mask: an inpaint's mask; it belongs to its job (not in History, "
                                "never public, not charged to storage)",
                            ),
                        },
                    )
                )
            },
        )


class ImageController(Controller):
    path = "/images"
    tags = ["images"]

    @post(
        "/uploads",
        operation_id="uploadImage",
        status_code=HTTP_201_CREATED,
        request_max_body_size=None,  # bounded per level below, before the body is read
        operation_class=UploadOperation,
        summary="Upload a PNG, JPEG or WebP picture (multipart field 'file'; optional 'title', 'public')",
        raises=[
            ValidationException,
            documented(411, "Content-Length required for uploads"),
            documented(413, "file: over the level's upload or storage limit, the pixel, side or aspect-ratio cap"),
            documented(429, "file: over the uploads per hour or at once; see Retry-After"),
            documented(422, "file: empty, not a PNG/JPEG/WebP image, or truncated"),
            STORAGE_DOWN,
        ],
    )
    async def upload(
        self,
        request: Request[AuthUser, Any, Any],
        images: NamedDependency[ImageService],
        limits: NamedDependency[Level],
    ) -> ImageOut:
        """413 over the level's upload or storage limit or the pixel cap; 422 when not a complete image."""
        async with images.upload_slot(request.user):
            form = await read_upload_form(request, limits)
            return await images.upload(
                request.user, limits, form.data, title=form.title, public=form.public, purpose=form.purpose
            )

    @get("/", operation_id="listImages", summary="The caller's pictures, newest first (cursor pages)")
    async def history(
        self,
        request: Request[AuthUser, Any, Any],
        images: NamedDependency[ImageService],
        kind: FromQuery[Literal["upload", "generated"] | None] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Page[ImageOut]:
        return await images.history(request.user, kind=kind, cursor=cursor, limit=limit)

    @get(
        "/{image_id:uuid}",
        operation_id="getImage",
        opt=PUBLIC,
        summary="One picture (owner, admin, or anyone if public)",
        raises=[BAD_CREDENTIALS],
    )
    async def read(
        self, image_id: FromPath[UUID], viewer: NamedDependency[AuthUser | None], images: NamedDependency[ImageService]
    ) -> ImageOut:
        return await images.read(image_id, viewer)

    @patch(
        "/{image_id:uuid}",
        operation_id="updateImage",
        summary="Change title or public flag (owner or admin)",
        raises=[NOT_OWNER],
    )
    async def update(
        self,
        request: Request[AuthUser, Any, Any],
        image_id: FromPath[UUID],
        data: JSONBody[ImagePatch],
        images: NamedDependency[ImageService],
    ) -> ImageOut:
        return await images.update(image_id, request.user, data)

    @delete(
        "/{image_id:uuid}",
        operation_id="deleteImage",
        summary="Delete a picture and free its storage (owner or admin)",
        raises=[NOT_OWNER],
    )
    async def remove(
        self, request: Request[AuthUser, Any, Any], image_id: FromPath[UUID], images: NamedDependency[ImageService]
    ) -> None:
        await images.delete(image_id, request.user)

    @get(
        "/{image_id:uuid}/content",
        operation_id="getImageContent",
        opt=PUBLIC,
        summary="The picture's bytes (?size=thumb: 256 px WebP)",
        raises=[BAD_CREDENTIALS, STORAGE_DOWN],
        # Not media_type="image/*" on the handler: Litestar sends error bodies in the handler's media type,
        # so a 404 was JSON labelled image/*. The picture's own type is set per response.
        responses={
            200: ResponseSpec(
                bytes,
                media_type="image/*",
                generate_examples=False,
                description="PNG, JPEG or WebP bytes; ETag for If-None-Match",
            ),
            304: ResponseSpec(None, description="If-None-Match matched the ETag: not modified"),
        },
    )
    async def content(
        self,
        request: Request[Any, Any, Any],
        image_id: FromPath[UUID],
        viewer: NamedDependency[AuthUser | None],
        images: NamedDependency[ImageService],
        size: FromQuery[Literal["full", "thumb"]] = "full",
    ) -> Response[bytes] | File | Stream:
        row = await find_visible(image_id, viewer)
        return await images.content(row, size=size, if_none_match=request.headers.get("if-none-match"))

    @put(
        "/{image_id:uuid}/rating",
        operation_id="rateImage",
        status_code=HTTP_200_OK,
        summary="Rate a picture 1-5 stars (one rating per user; PUT again to change; not your own)",
        responses={201: ResponseSpec(RatingSummary, description="a new rating")},
        raises=[documented(403, "you cannot rate your own image"), documented(412, "rated already (If-None-Match: *)")],
    )
    async def rate(
        self, request: Request[AuthUser, Any, Any], image_id: FromPath[UUID], data: JSONBody[RatingIn]
    ) -> Response[RatingSummary]:
        """201 for a new rating, 200 for a change; with ``If-None-Match: *`` a second rating is 412."""
        create_only = request.headers.get("if-none-match", "").strip() == "*"
        summary, created = await ratings.rate(image_id, request.user, data.stars, create_only=create_only)
        return Response(summary, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @delete(
        "/{image_id:uuid}/rating", operation_id="unrateImage", status_code=HTTP_200_OK, summary="Withdraw your rating"
    )
    async def unrate(self, request: Request[AuthUser, Any, Any], image_id: FromPath[UUID]) -> RatingSummary:
        return await ratings.unrate(image_id, request.user)
