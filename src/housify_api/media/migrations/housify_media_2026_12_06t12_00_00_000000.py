"""Control images recorded before they had a kind of their own become ``control`` (issue: History listed them).

The results consumer recorded a redesign's control image as a ``generated``
picture titled "control image" with no bytes charged; from now on it records
kind ``control`` (``housify_api.media.tables.INTERNAL_KINDS``). Masks uploaded
before ``purpose=mask`` cannot be told from pictures and stay as they are.
The statement is the same on PostgreSQL and SQLite.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "control images of redesigns get kind 'control'"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="housify_media", description=DESCRIPTION)

    async def mark() -> None:
        await engine_finder().run_ddl(
            "UPDATE media_images SET kind = 'control', public = FALSE "
            "WHERE kind = 'generated' AND title = 'control image' AND size_bytes = 0"
        )

    async def unmark() -> None:
        await engine_finder().run_ddl("UPDATE media_images SET kind = 'generated' WHERE kind = 'control'")

    manager.add_raw(mark)
    manager.add_raw_backwards(unmark)
    return manager
