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
from housify_api.media.catalog.access import levels_by_task
from housify_api.media.queue import Queue
from housify_api.plans import LevelService
from housify_api.system.error_docs import documented

log = logging.getLogger("housify.media")


class TaskOut(TaskAvailability, kw_only=True):
    """One task now (:class:`~housify_ai.availability.TaskAvailability`) and the subscription levels that
    include it (``levels``, cheapest first: an admin's choice per level, else the task's declaration, e.g.
    ``upscale``: ``["Pro-Tier"]``); a job of a task the caller's level lacks is refused with 403."""

    levels: list[str]


class TasksOut(msgspec.Struct, kw_only=True):
    """``workers``: live AI workers; ``tasks``: each task, ``available`` (a job of it is accepted now) or not and
    why, and which levels include it."""

    workers: int
    tasks: list[TaskOut]


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
async def list_tasks(queue: NamedDependency[Queue], levels: NamedDependency[LevelService]) -> TasksOut:
    """Which tasks the server runs now and which subscription levels include each (public): clients turn off
    what is not ``available``, and mark a task the user's level is not in ``levels`` with the plan that has it.

    ``state``: ``offered`` (a live worker runs it), ``not_offered`` (live workers exist, none runs it:
    ``POST /jobs`` answers 503; ``reason`` says why, as the workers report it) or ``no_workers``
    (no worker is alive: jobs are accepted and wait queued). ``levels``: the level names that include the
    task, cheapest first (``GET /subscriptions`` has their prices); ``POST /jobs`` answers 403
    ``task: your level (...) does not include '<task>'`` for the others.
    """
    workers = await _live_statuses(queue)
    included = await levels_by_task([level.name for level in await levels.list()])
    return TasksOut(
        workers=len(workers),
        tasks=[
            TaskOut(**msgspec.structs.asdict(task), levels=included.get(task.name, []))
            for task in availability(workers)
        ],
    )
