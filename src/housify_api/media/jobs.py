"""Generation jobs: submit (``POST /jobs``), list, read, cancel.

A job goes to the AI workers through the queue of ``housify_ai.contract``;
the API keeps its own row (``media_jobs``) which the results consumer
completes. While a job waits or runs, its live state (running, step k of n)
is read from the job's event stream, and a waiting job says whether any AI
worker is alive: when none is, the job stays queued — nothing is lost — and
starts when a worker comes back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import msgspec
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from redis.exceptions import RedisError

from housify_ai.contract import JobRequest, QueuedEvent, StartedEvent, StepEvent, enqueue_job, request_cancel
from housify_ai.tasks import MAX_SEED, TaskSpec
from housify_api.auth.identity import AuthUser
from housify_api.media import calls, presenters, quota, ratelimit
from housify_api.media.availability import ensure_offered
from housify_api.media.catalog import presets
from housify_api.media.catalog.access import level_tasks
from housify_api.media.images import find_visible
from housify_api.media.queue import Queue
from housify_api.media.schemas import IMAGE_FIELDS, JobBody, JobOut, JobProgress
from housify_api.media.tables import FINAL_STATUSES, Job, JobStatus
from housify_api.pagination import Page, after, clamp_limit, decode_cursor, encode_cursor
from housify_api.plans.service import Level

log = logging.getLogger("housify.media")

#: Most pictures one ``POST /jobs`` may ask for (``count``); each is its own job and image.
MAX_COUNT = 4


def _http_validation(exc: Exception) -> HTTPException:
    return HTTPException(status_code=422, detail=f"invalid job: {exc}")


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status_code=422, detail=detail)


async def _input_images(user: AuthUser, body: JobBody) -> dict[str, dict[str, Any]]:
    """The image rows ``body`` names (task input -> row), checked for owner; mask and source must match in size."""
    rows: dict[str, dict[str, Any]] = {}
    for need, image_id in body.image_ids().items():
        field = IMAGE_FIELDS[need]
        try:
            row = await find_visible(image_id, user)
        except NotFoundException as exc:
            raise NotFoundException(f"{field}: image {image_id} not found") from exc
        if row["owner"] != user.id:
            raise PermissionDeniedException(f"{field}: image {image_id} belongs to another user")
        rows[need] = row
    source, mask = rows.get("source"), rows.get("mask")
    if source and mask and (source["width"], source["height"]) != (mask["width"], mask["height"]):
        raise HTTPException(
            status_code=422,
            detail=f"mask_image_id: the mask is {mask['width']}x{mask['height']} pixels "
            f"but the source image is {source['width']}x{source['height']}; they must match",
        )
    return rows


async def _with_presets(spec: TaskSpec, body: JobBody) -> tuple[str, str]:
    """The job's prompt and negative prompt with the ``room_type`` and ``style`` presets' fragments after its own.

    Raises:
        HTTPException: 422 naming ``room_type`` / ``style`` when unknown, or given to a task without a prompt.
    """
    found = []
    fields: tuple[tuple[Literal["room_type", "style"], str | None], ...] = (
        ("room_type", body.room_type),
        ("style", body.style),
    )
    for field, value in fields:
        if value is None:
            continue
        if not spec.uses_presets:
            raise _unprocessable(f"{field}: task {spec.name} takes no {field.replace('_', ' ')}")
        try:
            found.append(await presets.find(field, value))
        except ValueError as exc:
            raise _unprocessable(str(exc)) from exc
    prompt, negative = body.text()
    return (
        presets.join_fragments(prompt, *(p.prompt for p in found)),
        presets.join_fragments(negative, *(p.negative_prompt for p in found)),
    )


async def find_own(job_id: UUID, user: AuthUser) -> dict[str, Any]:
    """A job row the caller may see: their own, or any for an admin. 404 otherwise (ids are not confirmed)."""
    row = await Job.select().where(Job.id == job_id).first()
    if row is None or not user.may_manage(row["owner"]):
        raise NotFoundException(f"job {job_id} not found")
    return row


@dataclass(frozen=True, slots=True)
class JobService:
    """Generation jobs over the job queue (:class:`~housify_api.media.queue.Queue`); the rows are
    ``media_jobs``, the validation is the task's declaration in ``housify_ai.tasks``."""

    queue: Queue

    async def submit(self, user: AuthUser, limits: Level, body: JobBody) -> tuple[JobOut, ratelimit.Decision]:
        """Validate (by the task's declaration in ``housify_ai.tasks``), count against ``requests_hour``, record and enqueue a job.

        Order matters: everything that can refuse the request for its content runs
        before the job is counted against the hourly limit.

        Raises:
            PermissionDeniedException: no access right for ``task`` (docs/design.md "Access rights"), a task
                the caller's level does not include, or a source/mask image of another user.
            NotFoundException: unknown image.
            HTTPException: 422 invalid parameters (the field is named) or mismatched mask; 413 storage full;
                429 over ``requests_hour`` (with ``Retry-After`` and ``RateLimit-*`` headers).
            ServiceUnavailableException: Redis is down, or live AI workers exist and none runs ``task``
                (``housify_api.media.availability``); nothing is recorded then.
        """
        spec = body.spec
        if not user.may_use(spec.name):
            raise PermissionDeniedException(f"no access to service {spec.name!r}; an admin can grant it")
        if not (await level_tasks(limits.name)).get(spec.name, False):
            raise PermissionDeniedException(f"task: your level ({limits.name}) does not include {spec.name!r}")
        await ensure_offered(self.queue, spec.name)
        prompt, negative = await _with_presets(spec, body)
        images = await _input_images(user, body)
        try:
            options = spec.parse_params(body.params())
            if spec.check is not None:
                source = images.get("source")
                spec.check(options, (source["width"], source["height"]) if source else None)
            if spec.offered is not None and (workers := await self._live_workers_or_503()):
                spec.offered(options, workers, limits.name)  # no worker at all: the job waits queued, as any job
        except (msgspec.ValidationError, ValueError) as exc:
            raise _http_validation(exc) from exc
        count = body.count
        first_seed = body.seed
        if count > 1 and first_seed is None:  # variations: seeds s ... s+n-1, so each picture can be redrawn
            first_seed = secrets.randbelow(MAX_SEED - MAX_COUNT + 2)
        if first_seed is not None and first_seed + count - 1 > MAX_SEED:
            raise _unprocessable(f"seed: seed + count - 1 must be at most {MAX_SEED}")
        job_ids = [uuid.uuid4() for _ in range(count)]
        requests: list[JobRequest] = []
        try:
            for i, job_id in enumerate(job_ids):
                requests.append(
                    JobRequest.parse(
                        {
                            "job_id": str(job_id),
                            "user_id": str(user.id),
                            "task": spec.name,
                            "prompt": prompt,
                            "negative_prompt": negative,
                            "params": msgspec.to_builtins(options),
                            "seed": None if first_seed is None else first_seed + i,
                            **{f"{need}_key": row["storage_key"] for need, row in images.items()},
                            "watermark": limits.watermark,
                            "level": limits.name,
                        }
                    )
                )
        except (msgspec.ValidationError, ValueError) as exc:
            raise _http_validation(exc) from exc
        await quota.ensure_room(user.id, limits.storage_limit_bytes)
        hour_key = self.queue.hour_key(user.id)
        decision = await self._take_hourly(hour_key, limits, job_ids)
        now = dt.datetime.now(dt.UTC)
        batch = [str(job_id) for job_id in job_ids] if count > 1 else None
        for request in requests:
            params: dict[str, Any] = {
                "prompt": request.prompt,
                "negative_prompt": request.negative_prompt,
                **msgspec.to_builtins(request.params),
            }
            params.update(
                # the user's own words, before the presets' fragments: a picture's recipe gives them back
                written_prompt=body.text()[0],
                written_negative_prompt=body.text()[1],
                seed=request.seed,
                **{IMAGE_FIELDS[need]: str(image_id) for need, image_id in body.image_ids().items()},
                room_type=body.room_type,
                style=body.style,
                title=body.title,
                public=body.public,
            )
            if batch:
                params["batch"] = batch
            await Job(
                id=uuid.UUID(request.job_id),
                owner=user.id,
                task=spec.name,
                params=params,
                status=JobStatus.queued.value,
                level=limits.name,
                watermark=limits.watermark,
                created_at=now,
            ).save()
        try:
            for request in requests:
                await enqueue_job(self.queue.client, self.queue.streams, request)
        except RedisError as exc:
            log.error("jobs: could not enqueue job(s) %s: %s", ", ".join(r.job_id for r in requests), exc)
            queued = {r.job_id for r in requests[: requests.index(request)]}
            for job_id in job_ids:
                if str(job_id) not in queued:
                    await Job.delete().where(Job.id == job_id)
                    with contextlib.suppress(RedisError):
                        await ratelimit.give_back(self.queue.client, hour_key, [str(job_id)])
            raise ServiceUnavailableException("job queue unavailable (Redis); the job was not queued") from exc
        row = await Job.select().where(Job.id == job_ids[0]).first()
        if row is None:  # deleted between the insert and this read
            raise NotFoundException(f"job {job_ids[0]} not found")
        return await self.job_out(row), decision

    async def _take_hourly(self, hour_key: str, limits: Level, job_ids: list[UUID]) -> ratelimit.Decision:
        """Count the jobs against the level's ``requests_hour``, all or none (``housify_api.media.ratelimit``).

        Raises:
            HTTPException: 429 (with ``Retry-After``: until the whole batch fits) saying how many are left
                and when the next frees; nothing stays counted then.
            ServiceUnavailableException: Redis is down.
        """
        try:
            decision = await ratelimit.take(
                self.queue.client, hour_key, limits.requests_hour, members=[str(job_id) for job_id in job_ids]
            )
        except RedisError as exc:
            log.error("jobs: Redis unavailable while counting requests_hour: %s", exc)
            raise ServiceUnavailableException("job queue unavailable (Redis); try again shortly") from exc
        if not decision.allowed:
            raise HTTPException(status_code=429, detail=decision.refusal(limits.name), headers=decision.headers())
        return decision

    async def _live_workers_or_503(self) -> list[dict[str, Any]]:
        try:
            return await self.queue.live_workers()
        except RedisError as exc:
            log.error("jobs: Redis unavailable while reading the AI workers' offers: %s", exc)
            raise ServiceUnavailableException("job queue unavailable (Redis); try again shortly") from exc

    async def job_out(self, row: dict[str, Any], *, live: bool = True) -> JobOut:
        """The API shape of a job row, with live progress for unfinished jobs when ``live``."""
        out = presenters.job_out(row)
        if live and out.status not in FINAL_STATUSES:
            try:
                event = await self.queue.latest_event(out.id)
                if isinstance(event, (StartedEvent, StepEvent)):
                    out.status = JobStatus.running.value
                    step = event.step if isinstance(event, StepEvent) else 0  # started: none done yet
                    out.progress = JobProgress(step=step, total=event.total)
                elif event is not None and event.terminal:
                    out.detail = f"{event.type}; recording the result"
                elif await self.queue.workers_online() == 0:
                    out.detail = "no AI worker is running; the job stays queued and starts when one is"
                else:
                    out.detail = "waiting for an AI worker"
            except RedisError as exc:
                log.warning("jobs: Redis unavailable reading live state of %s: %s", out.id, exc)
                out.detail = "live progress unavailable (Redis down); the job is kept"
        return out

    async def read(self, job_id: UUID, user: AuthUser) -> JobOut:
        return await self.job_out(await find_own(job_id, user))

    async def listing(self, user: AuthUser, *, status: str | None, cursor: str | None, limit: int) -> Page[JobOut]:
        """The caller's jobs, newest first (no live lookups: one query per page)."""
        limit = clamp_limit(limit)
        query = Job.select().where(Job.owner == user.id)
        if status:
            query = query.where(Job.status == status)
        if cursor:
            query = query.where(after([Job.created_at, Job.id], decode_cursor(cursor, (dt.datetime, UUID))))
        rows = await query.order_by(Job.created_at, Job.id, ascending=False).limit(limit + 1)
        items = [await self.job_out(r, live=False) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        return Page(items=items, next_cursor=encode_cursor([last["created_at"], last["id"]]) if last else None)

    async def cancel(self, job_id: UUID, user: AuthUser) -> JobOut:
        """Ask the worker to stop the job (it stops at its next denoising step).

        A job no worker has started yet is marked cancelled at once (the worker
        drops it when it claims it); a running one becomes cancelled when the
        worker confirms.

        Raises:
            NotFoundException: not the caller's job.
            HTTPException: 409 when the job has already finished.
        """
        row = await find_own(job_id, user)
        if row["status"] in FINAL_STATUSES:
            raise HTTPException(status_code=409, detail=f"job {job_id} has already finished ({row['status']})")
        try:
            await request_cancel(self.queue.client, self.queue.streams, str(job_id))
            event = await self.queue.latest_event(job_id)
        except RedisError as exc:
            raise ServiceUnavailableException("job queue unavailable (Redis); the job was not cancelled") from exc
        if event is None or isinstance(event, QueuedEvent):
            now = dt.datetime.now(dt.UTC)
            updated = (
                await Job.update(
                    {Job.status: JobStatus.cancelled.value, Job.finished_at: now, Job.error: "cancelled by the user"}
                )
                .where((Job.id == job_id) & (Job.status == JobStatus.queued.value))
                .returning(Job.id)
            )
            if updated:
                await calls.job_ended(row, started=None, finished=now, success=False, error="cancelled by the user")
        return await self.read(job_id, user)
