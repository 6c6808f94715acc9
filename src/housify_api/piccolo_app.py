"""piccolo app of housify-api: its tables and migrations (piccolo's AppConfig layout)."""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="housify_api",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=table_finder(["housify_api.tables"], exclude_imported=True),
    migration_dependencies=[],
    commands=[],
)
