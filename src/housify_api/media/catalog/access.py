"""Who may run which task: the per-user access right and the per-level switch, both derived from the registry.

* Access rights (``users.services``): new users get every name of
  ``housify_api.auth.identity.SERVICES``. When a task is registered later,
  :func:`roll_out_new_tasks` (run at start-up) grants its right to the existing
  users once, and records that in ``media_task_rollouts`` — so an admin's later
  revocation is not undone and no data migration is written per task.
* Level switch: ``media_level_tasks`` holds an admin's choice per (level, task);
  without a row the task's declaration decides (``TaskSpec.levels``, e.g.
  ``upscale``: Pro-Tier only). Read through a cache of :data:`CACHE_SECONDS`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from housify_ai.tasks import REGISTRY, allowed_by_default, get_task
from housify_api.auth.identity import SERVICES
from housify_api.media.catalog.tables import LevelTask, TaskRollout
from housify_api.tables import User

log = logging.getLogger("housify.media.catalog")

CACHE_SECONDS = 10.0
_cache: dict[str, tuple[float, dict[str, bool]]] = {}


async def level_tasks(level: str) -> dict[str, bool]:
    """Task name -> whether ``level`` may run it (admins' choices over the declared defaults)."""
    hit = _cache.get(level)
    now = time.monotonic()
    if hit and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    rows = await LevelTask.select(LevelTask.task, LevelTask.allowed).where(LevelTask.level == level)
    chosen = {row["task"]: bool(row["allowed"]) for row in rows}
    result = {name: chosen.get(name, allowed_by_default(spec, level)) for name, spec in REGISTRY.items()}
    _cache[level] = (now, result)
    return result


async def set_level_task(level: str, task: str, allowed: bool) -> dict[str, bool]:
    """Record an admin's choice; returns the level's tasks afterwards. ``ValueError("task: ...")`` for an unknown task."""
    get_task(task)
    now = dt.datetime.now(dt.UTC)
    updated = (
        await LevelTask.update({LevelTask.allowed: allowed, LevelTask.updated_at: now})
        .where((LevelTask.level == level) & (LevelTask.task == task))
        .returning(LevelTask._meta.primary_key)
    )
    if not updated:
        await LevelTask.insert(LevelTask(level=level, task=task, allowed=allowed, updated_at=now)).on_conflict(
            action="DO NOTHING"
        )
        await LevelTask.update({LevelTask.allowed: allowed}).where(
            (LevelTask.level == level) & (LevelTask.task == task)
        )
    _cache.pop(level, None)
    return await level_tasks(level)


async def levels_by_task(levels: list[str]) -> dict[str, list[str]]:
    """Task name -> the ones of ``levels`` that include it, in the order given (``GET /tasks``: clients mark
    a task the user's level lacks, e.g. "Enlarge — Pro", before any job is refused with 403)."""
    included = [await level_tasks(level) for level in levels]
    return {name: [level for level, tasks in zip(levels, included, strict=True) if tasks[name]] for name in REGISTRY}


def forget_cached_level_tasks() -> None:
    _cache.clear()


async def roll_out_new_tasks() -> list[str]:
    """Grant each service name not yet rolled out to every existing user; returns the names granted.

    Idempotent and safe with several API instances starting at once: the
    rollout row is inserted first (``ON CONFLICT DO NOTHING``) in the same
    transaction as the grant, so only one instance grants.
    """
    done = {row["task"] for row in await TaskRollout.select(TaskRollout.task)}
    granted: list[str] = []
    for name in SERVICES:
        if name in done:
            continue
        async with TaskRollout._meta.db.transaction():
            inserted = (
                await TaskRollout.insert(TaskRollout(task=name))
                .on_conflict(action="DO NOTHING")
                .returning(TaskRollout._meta.primary_key)
            )
            if not inserted:
                continue
            await User.raw(
                "UPDATE users SET services = CASE WHEN services = '' THEN {} ELSE services || ',' || {} END "
                "WHERE (',' || services || ',') NOT LIKE {}",
                name,
                name,
                f"%,{name},%",
            )
        granted.append(name)
    if granted:
        log.info("granted the new service(s) %s to the existing users", ", ".join(granted))
    return granted
