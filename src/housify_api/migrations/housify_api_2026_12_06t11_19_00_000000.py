"""Billing: a level's period (``period_days``) and API keys disabled by a downgrade (``disabled_at``)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T11:19:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "subscription_levels.period_days (paid periods); api_keys.disabled_at (keys above a downgraded cap)"

_COMMON = {
    "primary_key": False,
    "unique": False,
    "index": False,
    "index_method": IndexMethod.btree,
    "choices": None,
    "db_column_name": None,
    "secret": False,
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="housify_api", description=DESCRIPTION)
    manager.add_column(
        table_class_name="SubscriptionLevel",
        tablename="subscription_levels",
        column_name="period_days",
        db_column_name="period_days",
        column_class_name="Integer",
        column_class=Integer,
        params={"default": 30, "null": False, **_COMMON},
        schema=None,
    )
    manager.add_column(
        table_class_name="ApiKey",
        tablename="api_keys",
        column_name="disabled_at",
        db_column_name="disabled_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={"default": None, "null": True, **_COMMON},
        schema=None,
    )
    return manager
