"""One rating per user per image: a composite unique index (piccolo has no composite UNIQUE column option).

A separate migration because a MigrationManager runs its raw steps before it
creates tables. The statement is the same on PostgreSQL and SQLite.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-22T07:25:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique (image, rater) on media_ratings"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="housify_media", description=DESCRIPTION)

    async def create_index() -> None:
        await engine_finder().run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS media_ratings_image_rater ON media_ratings (image, rater)"
        )

    async def drop_index() -> None:
        await engine_finder().run_ddl("DROP INDEX IF EXISTS media_ratings_image_rater")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
