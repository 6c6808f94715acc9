"""The catalog's routes: ``GET /presets``; admins' ``/admin/presets/{kind}/{name}`` and
``/admin/levels/{level}/tasks`` (which tasks a subscription level includes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from litestar import Controller, delete, get, put
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody, Parameter

from housify_ai.tasks import REGISTRY
from housify_api.auth.guards import requires_admin
from housify_api.media.catalog import access, presets
from housify_api.system.error_docs import documented
from housify_api.tables import SubscriptionLevel

if TYPE_CHECKING:  # a Literal built from the registry at import time: a plain str to the type checker
    TaskName = str
else:
    TaskName = Literal[tuple(REGISTRY)]
LevelName = Annotated[str, Parameter(max_length=50)]
PresetSlug = Annotated[
    str, Parameter(pattern=presets.NAME_PATTERN, max_length=40, description="lowercase slug, e.g. living-room")
]


class LevelTaskIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``PUT /admin/levels/{level}/tasks/{task}``."""

    allowed: bool


async def _existing(level: str) -> str:
    if not await SubscriptionLevel.exists().where(SubscriptionLevel.name == level):
        raise NotFoundException(f"level: no subscription level {level!r}")
    return level


class LevelTaskController(Controller):
    path = "/admin/levels"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/{level:str}/tasks", operation_id="admin_level_tasks", raises=[documented(404, "level: no such level")])
    async def read(self, level: FromPath[LevelName]) -> dict[str, bool]:
        """Task name -> whether the level includes it (an admin's choice, else the task's declared default)."""
        return await access.level_tasks(await _existing(level))

    @put(
        "/{level:str}/tasks/{task:str}",
        operation_id="admin_set_level_task",
        raises=[documented(404, "level: no such level")],
    )
    async def set(
        self, level: FromPath[LevelName], task: FromPath[TaskName], data: JSONBody[LevelTaskIn]
    ) -> dict[str, bool]:
        """Include or exclude a task for a level; the level's tasks afterwards (API instances see it within 10 s)."""
        return await access.set_level_task(await _existing(level), task, data.allowed)


@get("/presets", opt={"exclude_from_auth": True}, operation_id="list_presets", tags=["presets"])
async def list_presets() -> presets.PresetsOut:
    """Room types and styles, each with the prompt fragments a job naming it gets (public, like the levels)."""
    return await presets.list_presets()


class PresetAdminController(Controller):
    path = "/admin/presets"
    tags = ["admin"]
    guards = [requires_admin]

    @put("/{kind:str}/{name:str}", operation_id="admin_put_preset")
    async def put(
        self, kind: FromPath[presets.Kind], name: FromPath[PresetSlug], data: JSONBody[presets.PresetIn]
    ) -> presets.PresetOut:
        """Create or change a room type or style (jobs use it at once)."""
        return await presets.upsert(kind, name, data)

    @delete(
        "/{kind:str}/{name:str}",
        operation_id="admin_delete_preset",
        status_code=204,
        raises=[documented(404, "no such preset")],
    )
    async def remove(self, kind: FromPath[presets.Kind], name: FromPath[PresetSlug]) -> None:
        if not await presets.remove(kind, name):
            raise NotFoundException(f"name: no {kind.replace('_', ' ')} {name!r}")
