"""Which tasks the server runs now: ``GET /tasks`` (public) and the refusal of a job no live AI worker offers.

The rule is :mod:`housify_ai.availability`'s, over the statuses the live workers
report (a task whose runtime could not load on a worker is left out there, with
the reason). While no worker is alive at all every task is accepted: its jobs
wait queued until one starts, as always.
"""

from __future__ import annotations

import logging

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.exceptions import ServiceUnavailableException
from redis.exceptions import RedisError

from housify_ai.availability import TaskAvailability, availability, refusal
from housify_api.media.queue import Queue
from housify_api.system.error_docs import documented

log = logging.getLogger("housify.media")


class TasksOut(msgspec.Struct, kw_only=True):
    """``workers``: live AI workers; ``tasks``: each task, ``available`` (a job of it is accepted now) or not and why."""

    workers: int
    tasks: list[TaskAvailability]


async def _live_statuses(queue: Queue) -> list[dict]:
    try:
        return await queue.live_workers()
    except RedisError as exc:
        log.error("tasks: Redis unavailable while reading the AI workers' statuses: %s", exc)
        raise ServiceUnavailableException("job queue unavailable (Redis); try again shortly") from exc


async def ensure_offered(queue: Queue, task: str) -> None:
    """Refuse a job of ``task`` when live AI workers exist and none runs it.

    Raises:
        ServiceUnavailableException: 503 ``task: <name> is not available on this server now (...)``,
            or when Redis is down.
    """
    reason = refusal(await _live_statuses(queue), task)
    if reason is not None:
        raise ServiceUnavailableException(reason)


@get(
    "/tasks",
    opt={"exclude_from_auth": True},
    operation_id="list_tasks",
    tags=["jobs"],
    raises=[documented(503, "Redis unavailable")],
)
async def list_tasks(queue: NamedDependency[Queue]) -> TasksOut:
    """Which tasks the server runs now (public): clients turn off what is not ``available``.

    ``state``: ``offered`` (a live worker runs it), ``not_offered`` (live workers exist, none runs it:
    ``POST /jobs`` answers 503; ``reason`` says why, as the workers report it) or ``no_workers``
    (no worker is alive: jobs are accepted and wait queued).
    """
    workers = await _live_statuses(queue)
    return TasksOut(workers=len(workers), tasks=availability(workers))
