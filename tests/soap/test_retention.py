"""Retention of binance_data and the composite index, on this run's PostgreSQL (SQLite: test_cli_and_sqlite.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from housify_soap.retention import RetentionTask, keep_seconds

from .conftest import STALE_MAX_AGE, fresh_symbol, start_soap_server, stop_soap_server

pytestmark = pytest.mark.timeout(60)

WEEK = keep_seconds(168, STALE_MAX_AGE)


async def _store(symbol: str, ages: dict[str, timedelta], now: datetime) -> None:
    """One row of ``symbol`` per ``price: age``."""
    from housify_soap.tables import BinanceData

    for price, age in ages.items():
        await BinanceData.insert(BinanceData(symbol=symbol, price=Decimal(price), fetched_at=now - age))


async def _prices(symbol: str) -> list[Decimal]:
    from housify_soap.tables import BinanceData

    rows = (
        await BinanceData.select(BinanceData.price).where(BinanceData.symbol == symbol).order_by(BinanceData.fetched_at)
    )
    return [row["price"] for row in rows]


def test_history_kept_is_never_shorter_than_the_stale_fallback_age():
    assert keep_seconds(168, 300) == 168 * 3600
    assert keep_seconds(0.01, 300) == 300


async def test_prune_deletes_old_rows_in_batches_but_keeps_each_symbols_newest(migrated_db):
    from housify_soap.tables import BinanceData

    now = datetime.now(UTC)
    all_old, mixed = fresh_symbol(), fresh_symbol()
    days = lambda n: timedelta(days=n)  # noqa: E731
    await _store(all_old, {"1": days(10), "2": days(9), "3": days(8)}, now)
    await _store(mixed, {"4": days(10), "5": timedelta(hours=1), "6": timedelta(0)}, now)

    task = RetentionTask(BinanceData, keep=WEEK, interval=3600, batch_size=2)
    assert await task.prune(now) == 3  # two batches: 2, then 1
    assert await _prices(all_old) == [Decimal("3")]  # 8 days old, but its symbol's newest
    assert await _prices(mixed) == [Decimal("5"), Decimal("6")]
    assert await task.prune(now) == 0


async def test_get_all_crypto_rates_answers_after_pruning(migrated_db, zeep_client, fake_binance):
    from housify_soap.tables import BinanceData

    now = datetime.now(UTC)
    dormant, live = fresh_symbol(), fresh_symbol()
    await _store(dormant, {"1.5": timedelta(days=30), "2.5": timedelta(days=20)}, now)
    fake_binance.prices[live] = "42.00000001"
    await zeep_client.service.GetCryptoRate(symbol=live)

    assert await RetentionTask(BinanceData, keep=WEEK, interval=3600, batch_size=1000).prune() == 1
    rates = {r.Symbol: r for r in await zeep_client.service.GetAllCryptoRates()}
    assert rates[dormant].Price == Decimal("2.5")
    assert abs(rates[dormant].AgeSeconds - 20 * 86400) < 60
    assert rates[live].Price == Decimal("42.00000001")
    assert list(rates) == sorted(rates)


async def test_served_app_prunes_periodically_in_its_lifespan(migrated_db, fake_binance):
    now = datetime.now(UTC)
    symbol = fresh_symbol()
    await _store(symbol, {"1": timedelta(hours=2), "2": timedelta(hours=1)}, now)
    # keep = max(0.36 s, STALE_MAX_AGE 60 s): hour-old rows go, the newest stays
    server = start_soap_server(
        fake_binance.url, HOUSIFY_SOAP_RETENTION_HOURS="0.0001", HOUSIFY_SOAP_RETENTION_INTERVAL="0.2"
    )
    try:
        assert await _wait_for_prices(symbol, [Decimal("2")])
        await _store(symbol, {"0.5": timedelta(hours=3)}, now)  # arrives after the start-up run
        assert await _wait_for_prices(symbol, [Decimal("2")])
    finally:
        stop_soap_server(server)


async def _wait_for_prices(symbol: str, expected: list[Decimal], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while await _prices(symbol) != expected:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_composite_index_exists_on_postgresql(migrated_db):
    conn = await asyncpg.connect(migrated_db)
    try:
        definition = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'binance_data' AND indexname = 'binance_data_symbol_fetched_at_desc'"
        )
    finally:
        await conn.close()
    assert definition is not None and definition.endswith("(symbol, fetched_at DESC)")
