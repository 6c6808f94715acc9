"""piccolo app ``housify_media``: images, jobs, ratings.

A separate app from the accounts tables (``housify_api``) so each has its own
migration history; it depends on ``housify_api`` for the users table.
"""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="housify_media",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=table_finder(["housify_api.media.tables", "housify_api.media.catalog.tables"], exclude_imported=True),
    migration_dependencies=["housify_api.piccolo_app"],
    commands=[],
)
