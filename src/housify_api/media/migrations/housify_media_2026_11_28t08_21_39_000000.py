"""Catalog: unique (level, task) and (kind, name) indexes; the access rights users already hold count as rolled out.

A separate migration because a MigrationManager runs its raw steps before it
creates tables. The statements are the same on PostgreSQL and SQLite.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T08:21:39:000000"
VERSION = "1.38.0"
DESCRIPTION = "catalog indexes; tasks that existed before the registry count as rolled out"

#: Every user got these at sign-up before tasks were registered: granting them again would undo revocations.
_EXISTING_SERVICES = ("text2img", "img2img", "inpaint", "prompt_assist")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="housify_media", description=DESCRIPTION)

    async def create() -> None:
        engine = engine_finder()
        await engine.run_ddl("CREATE UNIQUE INDEX IF NOT EXISTS media_level_tasks_level_task ON media_level_tasks (level, task)")
        await engine.run_ddl("CREATE UNIQUE INDEX IF NOT EXISTS media_presets_kind_name ON media_presets (kind, name)")
        for name in _EXISTING_SERVICES:
            await engine.run_ddl(
                f"INSERT INTO media_task_rollouts (task, rolled_out_at) VALUES ('{name}', CURRENT_TIMESTAMP) "
                "ON CONFLICT (task) DO NOTHING"
            )

    async def drop() -> None:
        engine = engine_finder()
        await engine.run_ddl("DROP INDEX IF EXISTS media_level_tasks_level_task")
        await engine.run_ddl("DROP INDEX IF EXISTS media_presets_kind_name")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
