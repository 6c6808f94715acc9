"""Which tasks the live AI workers offer, from what they report (docs/ai-server.md, "Task availability").

Each worker loads the handlers of the registered tasks (:mod:`housify_ai.tasks`)
at start; a task whose runtime cannot load (a missing native library, a model
file) is left out and the worker serves the rest. Its heartbeat status in the
workers registry (``StreamKeys.workers()``, a hash ``consumer -> JSON``) then
carries:

* ``tasks`` — the task names it runs;
* ``unavailable`` — task name -> why it cannot run it, and the fix.

A status without ``tasks`` comes from a worker older than this report, which
loaded every task or stopped: it counts as offering all of them.

This module imports no torch and no redis: the API uses it (``GET /tasks``,
refusing a job no live worker offers) as well as the AI server (``GET /models``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec

from housify_ai.tasks import REGISTRY

#: A worker whose heartbeat is older than this counts as gone (workers refresh their
#: status every third of the visibility timeout, 20 s by default).
LIVE_SECONDS = 60.0

State = Literal["offered", "not_offered", "no_workers"]


class TaskAvailability(msgspec.Struct, kw_only=True):
    """One task now: ``available`` — a job of it is accepted (``offered``, or ``no_workers``:
    it waits queued until a worker starts); ``reason`` says why not, as the workers report it."""

    name: str
    available: bool
    state: State
    reason: str | None = None
    workers: int = 0
    """How many live workers run it."""


def live(statuses: Iterable[dict[str, Any]], *, now: float | None = None, within: float = LIVE_SECONDS) -> list[dict]:
    """The statuses whose ``seen_at`` (Unix seconds) is less than ``within`` seconds old."""
    now = time.time() if now is None else now
    alive = []
    for status in statuses:
        try:
            seen = float(status.get("seen_at", 0))
        except (TypeError, ValueError):
            continue
        if now - seen < within:
            alive.append(status)
    return alive


def offers(status: Mapping[str, Any], task: str) -> bool:
    """Whether the worker of ``status`` runs ``task`` (a status without ``tasks``: every task)."""
    tasks = status.get("tasks")
    return True if tasks is None else task in tasks


def availability(workers: list[dict[str, Any]], tasks: Iterable[str] | None = None) -> list[TaskAvailability]:
    """Each of ``tasks`` (default: every registered one) against the live ``workers``' statuses."""
    out = []
    for name in tasks or REGISTRY:
        running = [w for w in workers if offers(w, name)]
        if running:
            out.append(TaskAvailability(name=name, available=True, state="offered", workers=len(running)))
        elif not workers:
            out.append(
                TaskAvailability(
                    name=name,
                    available=True,
                    state="no_workers",
                    reason="no AI worker is running; jobs wait queued until one starts",
                )
            )
        else:
            reasons = sorted({str(w.get("unavailable", {}).get(name) or "not loaded") for w in workers})
            out.append(
                TaskAvailability(
                    name=name,
                    available=False,
                    state="not_offered",
                    reason=f"no AI worker offers {name}: {'; '.join(reasons)}",
                )
            )
    return out


def refusal(workers: list[dict[str, Any]], task: str) -> str | None:
    """Why a job of ``task`` is refused now (``task: ...``, for the API's 503), or None when it is accepted."""
    (state,) = availability(workers, [task])
    if state.available:
        return None
    return f"task: {task} is not available on this server now ({state.reason})"
