"""Retention of ``binance_data``: delete old prices in batches, always keeping each symbol's newest.

Without it the table grows by one row per symbol per cache period (2 s by
default: up to 43,200 rows a day for a symbol asked for continuously). A
:class:`RetentionTask` runs in the service's lifespan (app.py) on the event
loop, like every other piccolo query of this service: asyncpg (and aiosqlite's
own thread) never block the loop, and each batch is one short ``DELETE`` in
its own transaction, so no long lock or huge undo log builds up. The newest
row of a symbol is kept whatever its age, so ``GetAllCryptoRates`` still
answers for every symbol ever fetched; rows younger than the stale-fallback
age are never deleted either (see :func:`keep_seconds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

#: Ids of one batch: up to ``{batch}`` rows older than ``{cutoff}``, oldest first (``fetched_at``
#: index), that have a newer row of the same symbol (the ``(symbol, fetched_at DESC)`` index), so
#: the newest of each symbol stays.
_BATCH_IDS = """
    SELECT b.id FROM binance_data b
    WHERE b.fetched_at < {}
      AND EXISTS (SELECT 1 FROM binance_data n WHERE n.symbol = b.symbol AND n.fetched_at > b.fetched_at)
    ORDER BY b.fetched_at
    LIMIT {}
"""
#: One batch per engine (both support ``RETURNING``; SQLite since 3.35). PostgreSQL gets
#: ``= ANY(ARRAY(...))``: with ``IN (...)`` its planner hash-joined a sequential scan of the whole
#: table (185 ms per 5,000-row batch at 200,000 rows) instead of 5,000 primary-key probes (62 ms).
PRUNE_BATCH_SQL = {
    "postgres": f"DELETE FROM binance_data WHERE id = ANY(ARRAY({_BATCH_IDS})) RETURNING id",
    "sqlite": f"DELETE FROM binance_data WHERE id IN ({_BATCH_IDS}) RETURNING id",
}


def keep_seconds(retention_hours: float, stale_max_age: float) -> float:
    """Seconds of history kept: the retention, but never less than the stale-fallback age.

    A stored price may answer for Binance while it is at most ``stale_max_age``
    seconds old (rates.py); pruning younger rows would only ever delete
    non-newest rows, but keeping them costs nothing and keeps the rule simple.
    """
    return max(retention_hours * 3600.0, stale_max_age)


class RetentionTask:
    """Deletes ``binance_data`` rows older than ``keep`` seconds every ``interval`` seconds.

    Args:
        table: the piccolo ``BinanceData`` table (its engine runs the queries).
        keep: seconds of history kept (:func:`keep_seconds`).
        interval: seconds between two prunes; the first runs at start.
        batch_size: rows per ``DELETE`` statement.
    """

    def __init__(self, table: Any, *, keep: float, interval: float, batch_size: int) -> None:
        self._table = table
        self._keep = keep
        self._interval = interval
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None

    async def prune(self, now: datetime | None = None) -> int:
        """Delete every row older than ``now - keep`` except each symbol's newest; returns how many.

        Batch after batch until one comes back short; the loop is yielded between batches.
        """
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=self._keep)
        sql = PRUNE_BATCH_SQL[self._table._meta.db.engine_type]
        deleted = 0
        while True:
            rows = await self._table.raw(sql, cutoff, self._batch_size)
            deleted += len(rows)
            if len(rows) < self._batch_size:
                return deleted
            await asyncio.sleep(0)

    def start(self) -> None:
        """Start the periodic prune on the running loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="binance_data retention")

    async def stop(self) -> None:
        """Cancel the periodic prune and wait for it (a batch in flight is rolled back by the database)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                deleted = await self.prune()
                if deleted:
                    log.info("binance_data retention: deleted %d rows older than %gs", deleted, self._keep)
            except Exception:  # the database may be down for a while: log, try again next interval
                log.exception("binance_data retention failed; retrying in %gs", self._interval)
            await asyncio.sleep(self._interval)
