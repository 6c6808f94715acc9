"""Hand-written: composite index ``binance_data (symbol, fetched_at DESC)``.

piccolo's auto-migrations only make single-column indexes, so this one runs
raw SQL. It serves the "newest row of a symbol" lookups: the stale fallback,
``GetAllCryptoRates`` (rates.py) and the retention prune (retention.py).
``IF NOT EXISTS`` makes it safe to re-run against a database where an operator
already created it by hand. The statement is the same on both engines, but is
chosen per engine so an unsupported engine fails loudly instead of guessing.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-22T09:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite index binance_data (symbol, fetched_at DESC)"

INDEX = "binance_data_symbol_fetched_at_desc"
_CREATE = {
    # PostgreSQL: a btree read backwards serves ASC too; DESC matches the ORDER BY written in the queries.
    "postgres": f"CREATE INDEX IF NOT EXISTS {INDEX} ON binance_data (symbol, fetched_at DESC)",
    "sqlite": f"CREATE INDEX IF NOT EXISTS {INDEX} ON binance_data (symbol, fetched_at DESC)",
}
_DROP = {
    "postgres": f"DROP INDEX IF EXISTS {INDEX}",
    "sqlite": f"DROP INDEX IF EXISTS {INDEX}",
}


async def _run(statements: dict[str, str]) -> None:
    engine = engine_finder()
    if engine is None or engine.engine_type not in statements:
        raise RuntimeError(f"{ID}: no SQL for engine {getattr(engine, 'engine_type', None)!r}; supported: postgres, sqlite")
    await engine.run_ddl(statements[engine.engine_type])  # joins the migration's transaction


async def _create_index() -> None:
    await _run(_CREATE)


async def _drop_index() -> None:
    await _run(_DROP)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="housify_soap", description=DESCRIPTION)
    manager.add_raw(_create_index)
    manager.add_raw_backwards(_drop_index)
    return manager
