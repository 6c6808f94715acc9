"""``/jobs``: submit, list, read, cancel, and the live events WebSocket."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, WebSocket, delete, get, post, websocket
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from housify_api.auth.credentials import Authenticator
from housify_api.auth.identity import AuthUser
from housify_api.media import events
from housify_api.media.jobs import JobService
from housify_api.media.schemas import JobIn, JobOut, job_events_schema
from housify_api.media.services import MediaServices
from housify_api.pagination import DEFAULT_LIMIT, Cursor, Page
from housify_api.plans.service import Level
from housify_api.system.error_docs import documented

Status = Literal["queued", "succeeded", "failed", "cancelled"]


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @post(
        "/",
        operation_id="submitJob",
        status_code=HTTP_202_ACCEPTED,
        summary="Queue a text2img, img2img or inpaint job",
        raises=[
            documented(403, "no access to the task's service, or the image belongs to another user"),
            documented(404, "image_id / mask_id: image not found"),
            documented(422, "invalid job (the field and rule are named)"),
            documented(429, "over the level's jobs per hour; see Retry-After"),
        ],
    )
    async def submit(
        self,
        request: Request[AuthUser, Any, Any],
        data: JSONBody[JobIn],
        jobs: NamedDependency[JobService],
        limits: NamedDependency[Level],
    ) -> Response[JobOut]:
        """202 with the job and ``RateLimit-*`` headers; 429 with ``Retry-After`` over the level's jobs per hour."""
        job, decision = await jobs.submit(request.user, limits, data.body)
        return Response(
            job, status_code=HTTP_202_ACCEPTED, headers={**decision.headers(), "Location": f"/jobs/{job.id}"}
        )

    @get("/", operation_id="listJobs", summary="The caller's jobs, newest first (cursor pages)")
    async def listing(
        self,
        request: Request[AuthUser, Any, Any],
        jobs: NamedDependency[JobService],
        status: FromQuery[Status | None] = None,
        cursor: Cursor = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = DEFAULT_LIMIT,
    ) -> Page[JobOut]:
        return await jobs.listing(request.user, status=status, cursor=cursor, limit=limit)

    @get("/{job_id:uuid}", operation_id="getJob", summary="One job with live progress")
    async def read(
        self, request: Request[AuthUser, Any, Any], job_id: FromPath[UUID], jobs: NamedDependency[JobService]
    ) -> JobOut:
        return await jobs.read(job_id, request.user)

    @delete(
        "/{job_id:uuid}",
        operation_id="cancelJob",
        status_code=HTTP_200_OK,
        summary="Cancel a queued or running job",
        raises=[documented(409, "the job has already finished")],
    )
    async def cancel(
        self, request: Request[AuthUser, Any, Any], job_id: FromPath[UUID], jobs: NamedDependency[JobService]
    ) -> JobOut:
        """409 when the job has already finished."""
        return await jobs.cancel(job_id, request.user)

    @websocket("/{job_id:uuid}/events", opt={"exclude_from_auth": True})
    async def job_events(
        self,
        socket: WebSocket,
        job_id: FromPath[UUID],
        media: NamedDependency[MediaServices],
        authenticator: NamedDependency[Authenticator],
    ) -> None:
        """Replays the job's events, then streams new ones until it ends (see ``housify_api.media.events``)."""
        await events.serve(socket, job_id, media.events, authenticator)

    @websocket("/events", opt={"exclude_from_auth": True})
    async def user_events(
        self, socket: WebSocket, media: NamedDependency[MediaServices], authenticator: NamedDependency[Authenticator]
    ) -> None:
        """The caller's queued, running and newly submitted jobs' events on one socket (``job_id`` in each)."""
        await events.serve_user(socket, media.events, authenticator)


@get(
    "/schema/job-events.json",
    opt={"exclude_from_auth": True},
    include_in_schema=False,
    sync_to_thread=False,
    media_type="application/schema+json",
)
def job_events_schema_document() -> dict[str, Any]:
    """The JSON Schema of the job-events WebSocket's messages (``JobEventOut``); ``web/job-events.schema.json``
    is its committed copy, from which ``web/scripts/gen_job_events.mjs`` writes the web app's ``JobEvent`` type."""
    return _EVENTS_SCHEMA


_EVENTS_SCHEMA = job_events_schema()
