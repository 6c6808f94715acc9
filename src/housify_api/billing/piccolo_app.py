"""piccolo app ``housify_billing``: orders, paid periods, webhook deliveries, the level audit.

Its own migration history (like ``housify_media``); depends on ``housify_api`` for the users table.
"""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder

APP_CONFIG = AppConfig(
    app_name="housify_billing",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=table_finder(["housify_api.billing.tables"], exclude_imported=True),
    migration_dependencies=["housify_api.piccolo_app"],
    commands=[],
)
