"""Crypto rates: cached, coalesced Binance fetches, stored in ``binance_data``, stale fallback.

The rules live here; ``service.py`` only maps them onto SOAP. The async
methods run on the server's event loop (httpx and piccolo are async); spyne
runs in worker threads (wsgi_bridge.py) and reaches them through the ``*_blocking``
methods, which answer a warm cache in the thread itself and otherwise hand the
coroutine to the loop (``run_coroutine_threadsafe``), so neither the loop nor
other requests wait on Binance or the database. A ``GetCryptoRate`` whose answer
is cached (:meth:`RateService.is_warm`) runs on the loop itself, which then only
spends spyne's CPU time on it (app.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any, TypeVar

from cachetools import TLRUCache

from housify_soap.binance import BinanceClient, UnknownSymbol, UpstreamError

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Issue 5: symbols and assets are 2-20 upper-case letters or digits (Binance's own alphabet).
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,20}$")


#: Newest row of each symbol, on PostgreSQL and SQLite alike. ``s`` walks the distinct symbols
#: (each step one probe of the ``symbol`` index: ``MIN(symbol) > previous``, as neither engine
#: skips through a btree on its own), ``latest`` takes each one's newest row id from the
#: ``(symbol, fetched_at DESC)`` index (migration 2026-11-22T09:10), then the rows by primary key.
#: Exactly one row per symbol even when two share a ``fetched_at``.
LATEST_PER_SYMBOL_SQL = """
WITH RECURSIVE s(symbol) AS (
    SELECT MIN(symbol) FROM binance_data
    UNION ALL
    SELECT (SELECT MIN(n.symbol) FROM binance_data n WHERE n.symbol > s.symbol) FROM s WHERE s.symbol IS NOT NULL
), latest(id) AS (
    SELECT (SELECT l.id FROM binance_data l WHERE l.symbol = s.symbol ORDER BY l.fetched_at DESC LIMIT 1)
    FROM s WHERE s.symbol IS NOT NULL
)
SELECT b.symbol, b.price, b.fetched_at FROM latest JOIN binance_data b ON b.id = latest.id ORDER BY b.symbol
"""


#: Largest and smallest magnitudes an amount may have (as powers of ten) and its most significant digits.
#: ``1e99999999`` is 282 bytes of XML but 100 MB written out (xs:decimal has no exponent notation, so the
#: answer spells every digit): amounts are bounded before anything is computed (issue 21 item 5).
#: 10^30 units is beyond any asset's supply; 10^-30 below any asset's smallest unit (1 satoshi = 10^-8 BTC,
#: 1 wei = 10^-18 ETH); 40 digits hold any of them exactly.
AMOUNT_MAX_EXPONENT = 30
AMOUNT_MIN_EXPONENT = -30
AMOUNT_MAX_DIGITS = 40


def check_amount(amount: object) -> Decimal:
    """``amount`` when it is a finite ``Decimal`` >= 0 within the bounds above.

    Raises:
        InvalidAmount: naming the rule broken.
    """
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise InvalidAmount(f"amount must be a finite number >= 0, got {str(amount)[:40]!r}")
    if amount == 0:
        return amount
    if len(amount.as_tuple().digits) > AMOUNT_MAX_DIGITS:
        raise InvalidAmount(f"amount may have at most {AMOUNT_MAX_DIGITS} significant digits")
    if not AMOUNT_MIN_EXPONENT <= amount.adjusted() < AMOUNT_MAX_EXPONENT:
        raise InvalidAmount(f"amount must be below 1e{AMOUNT_MAX_EXPONENT} and at least 1e{AMOUNT_MIN_EXPONENT}")
    return amount


class InvalidSymbol(ValueError):
    """A symbol or asset does not match ``^[A-Z0-9]{2,20}$``; the message names the field."""


class InvalidAmount(ValueError):
    """An amount is not a finite number >= 0."""


class RateUnavailable(Exception):
    """No price could be given: Binance failed and no stored price is young enough. Message says why."""


@dataclass(frozen=True, slots=True)
class Rate:
    """``price`` quote units per one base unit of ``symbol`` as of ``fetched_at`` (UTC).

    ``stale`` is true when Binance was unreachable and the price came from ``binance_data``.
    """

    symbol: str
    price: Decimal
    fetched_at: datetime
    stale: bool = False

    def age_seconds(self) -> int:
        """Whole seconds since the price was fetched."""
        return age_seconds(self.fetched_at)


@dataclass(frozen=True, slots=True)
class Failure:
    """A remembered failure: its kind and message only (an exception keeps its traceback and frames alive)."""

    unknown: bool
    message: str

    @classmethod
    def of(cls, exc: Exception) -> Failure:
        return cls(unknown=isinstance(exc, UnknownSymbol), message=str(exc))

    def exception(self, symbol: str) -> Exception:
        """A fresh exception to raise for ``symbol``."""
        return UnknownSymbol(symbol, message=self.message) if self.unknown else RateUnavailable(self.message)


@dataclass(frozen=True, slots=True)
class Conversion:
    """``amount`` of the target asset = input amount x ``rate``; ``rate`` from ``symbol``'s price (or its inverse)."""

    amount: Decimal
    rate: Decimal
    symbol: str
    fetched_at: datetime
    stale: bool = False


def age_seconds(fetched_at: datetime) -> int:
    """Whole seconds from ``fetched_at`` (aware) to now, never negative."""
    return max(0, int((_utcnow() - fetched_at).total_seconds()))


def check_symbol(value: object, field: str) -> str:
    """Return ``value`` if it is a string matching :data:`SYMBOL_PATTERN`; raises :class:`InvalidSymbol` naming ``field``."""
    if not isinstance(value, str) or not SYMBOL_PATTERN.fullmatch(value):  # match() let "BTCUSDT\n" through
        raise InvalidSymbol(f"{field} must match ^[A-Z0-9]{{2,20}}$ (e.g. BTCUSDT), got {str(value)[:40]!r}")
    return value


class RateService:
    """Latest prices per symbol, at most one Binance request per symbol per ``cache_ttl`` seconds.

    Args:
        binance: the upstream client.
        cache_ttl: seconds a fetched price is reused.
        unknown_ttl: seconds Binance's "unknown symbol" answer is reused.
        stale_max_age: oldest stored price (seconds) answered when Binance fails.
        cache_size: symbols remembered at most (least recently used go first); an entry also
            goes when its TTL ends. Failures are kept as their kind and message, not as exception
            objects with tracebacks (issue 21 item 7: 5,000 symbols kept 27 MiB past their TTL).
        store: the piccolo table class for ``binance_data`` (injected so the
            tables module is imported only after ``PICCOLO_CONF`` is set).
    """

    def __init__(
        self,
        binance: BinanceClient,
        *,
        cache_ttl: float,
        unknown_ttl: float,
        stale_max_age: float,
        store: Any,
        call_budget: float,
        cache_size: int = 4096,
    ) -> None:
        self._binance = binance
        self._ttl = cache_ttl
        self._unknown_ttl = unknown_ttl
        self._stale_max_age = stale_max_age
        self._store = store
        self._call_budget = call_budget
        # symbol -> (monotonic expiry, Rate or the failure to raise again); spyne's threads read it too
        self._cache: TLRUCache[str, tuple[float, Rate | Failure]] = TLRUCache(
            maxsize=cache_size, ttu=lambda _key, value, _now: value[0], timer=time.monotonic
        )
        self._cache_lock = threading.Lock()
        self._inflight: dict[str, asyncio.Future[Rate]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that runs httpx and piccolo; set at start-up."""
        self._loop = loop

    # ---- async API (on the loop) -------------------------------------------------

    async def rate(self, symbol: str) -> Rate:
        """Latest price of ``symbol``.

        Raises:
            InvalidSymbol: bad format. UnknownSymbol: Binance does not list it.
            RateUnavailable: Binance failed and no stored price is young enough.
        """
        hit = self._cached(check_symbol(symbol, "symbol"))
        if hit is not None:
            return hit
        task = self._inflight.get(symbol)
        if task is None:
            task = asyncio.ensure_future(self._refresh(symbol))
            self._inflight[symbol] = task
            task.add_done_callback(lambda _t: self._inflight.pop(symbol, None))
        return await asyncio.shield(task)

    async def convert(self, amount: Decimal, from_asset: str, to_asset: str) -> Conversion:
        """Convert ``amount`` of ``from_asset`` into ``to_asset`` by the direct pair, else the inverse pair.

        ``BTC -> USDT`` uses ``BTCUSDT`` (rate = price); ``USDT -> BTC`` finds no
        ``USDTBTC`` and uses ``1 / BTCUSDT``. Same asset: rate 1.

        Raises:
            InvalidAmount, InvalidSymbol, UnknownSymbol (neither pair listed), RateUnavailable.
        """
        amount = check_amount(amount)
        check_symbol(from_asset, "fromAsset")
        check_symbol(to_asset, "toAsset")
        if from_asset == to_asset:
            return Conversion(amount, Decimal(1), from_asset + to_asset, _utcnow())
        direct, inverse = from_asset + to_asset, to_asset + from_asset
        try:
            rate = await self._pair(direct)
            factor = rate.price
        except UnknownSymbol:
            try:
                rate = await self._pair(inverse)
            except UnknownSymbol:
                raise UnknownSymbol(
                    direct,
                    message=f"cannot convert {from_asset} to {to_asset}: Binance lists neither {direct} nor {inverse}",
                ) from None
            with localcontext() as ctx:
                ctx.prec = 28
                factor = Decimal(1) / rate.price
        return Conversion(amount * factor, factor, rate.symbol, rate.fetched_at, rate.stale)

    async def latest_all(self) -> list[Rate]:
        """The newest stored price of every symbol in ``binance_data``, ordered by symbol.

        A loose index scan (:data:`LATEST_PER_SYMBOL_SQL`): cost grows with the number of
        symbols, not of rows (0.7 ms vs 850 ms for 200,000 rows of 20 symbols on PostgreSQL,
        docs/soap.md "Data retention").
        """
        rows = await self._store.raw(LATEST_PER_SYMBOL_SQL)
        return [Rate(row["symbol"], _decimal(row["price"]), _aware(row["fetched_at"])) for row in rows]

    def is_warm(self, symbol: str, margin: float) -> bool:
        """True when ``symbol``'s cached answer (price or remembered failure) is valid ``margin`` seconds from now.

        The server then runs that call on the event loop itself (no thread hop):
        :meth:`rate_blocking` answers it from the cache without waiting on anything.
        """
        with self._cache_lock:
            entry = self._cache.get(symbol)
        return entry is not None and entry[0] >= time.monotonic() + margin

    # ---- blocking API (spyne worker threads; warm-cache rate calls also on the loop) ------

    def rate_blocking(self, symbol: str) -> Rate:
        """:meth:`rate` for a worker thread; a warm cache is answered without touching the loop."""
        hit = self._cached(check_symbol(symbol, "symbol"))
        return hit if hit is not None else self._on_loop(self.rate(symbol))

    def convert_blocking(self, amount: Decimal, from_asset: str, to_asset: str) -> Conversion:
        return self._on_loop(self.convert(amount, from_asset, to_asset))

    def latest_all_blocking(self) -> list[Rate]:
        return self._on_loop(self.latest_all())

    # ---- internals ---------------------------------------------------------------

    async def _pair(self, symbol: str) -> Rate:
        if len(symbol) > 20:  # two valid assets can make a name longer than any Binance symbol
            raise UnknownSymbol(symbol)
        return await self.rate(symbol)

    def _cached(self, symbol: str) -> Rate | None:
        with self._cache_lock:
            entry = self._cache.get(symbol)
        if entry is None or entry[0] < time.monotonic():
            return None
        if isinstance(entry[1], Failure):
            raise entry[1].exception(symbol)
        return entry[1]

    def _remember(self, symbol: str, ttl: float, value: Rate | Exception) -> None:
        kept = value if isinstance(value, Rate) else Failure.of(value)
        with self._cache_lock:
            self._cache[symbol] = (time.monotonic() + ttl, kept)

    @property
    def cached_symbols(self) -> int:
        """Entries in the cache now (expired ones are dropped as it is used)."""
        with self._cache_lock:
            self._cache.expire()
            return len(self._cache)

    async def _refresh(self, symbol: str) -> Rate:
        try:
            price = await self._binance.fetch_price(symbol)
        except UnknownSymbol as exc:
            self._remember(symbol, self._unknown_ttl, exc)
            raise
        except UpstreamError as exc:
            # The stale answer or the failure is cached like a price, so during an outage a burst
            # (and every caller within the TTL) does not wait through the upstream retries again.
            try:
                stale = await self._stale(symbol, str(exc))
            except RateUnavailable as failure:
                self._remember(symbol, self._ttl, failure)
                raise
            self._remember(symbol, self._ttl, stale)
            return stale
        rate = Rate(symbol, price, _utcnow())
        try:
            await self._store.insert(self._store(symbol=symbol, price=price, fetched_at=rate.fetched_at))
        except Exception:  # a price store outage must not hide a good fresh price
            log.exception("could not store price of %s in binance_data", symbol)
        self._remember(symbol, self._ttl, rate)
        return rate

    async def _stale(self, symbol: str, reason: str) -> Rate:
        table = self._store
        try:
            row = (
                await table.select(table.price, table.fetched_at)
                .where(table.symbol == symbol)
                .order_by(table.fetched_at, ascending=False)
                .first()
            )
        except Exception as exc:
            log.exception("price store unavailable while answering %s from stored prices", symbol)
            raise RateUnavailable(f"{reason}; the price store is unavailable too ({type(exc).__name__})") from exc
        if row is not None:
            stored = Rate(symbol, _decimal(row["price"]), _aware(row["fetched_at"]), stale=True)
            if stored.age_seconds() <= self._stale_max_age:
                log.warning("answering %s with a stored price %ds old: %s", symbol, stored.age_seconds(), reason)
                return stored
        raise RateUnavailable(f"{reason}; no stored price of {symbol} younger than {self._stale_max_age:g}s")

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RateUnavailable("rate service not started")
        if _running_loop() is self._loop:
            # A call run on the loop (see is_warm) whose cache entry expired anyway, e.g. the loop
            # stalled longer than the margin: waiting here would block the loop that must do the work.
            coro.close()
            raise RateUnavailable("the cached price expired while the call was running; retry")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=self._call_budget)
        except FutureTimeout:
            future.cancel()
            raise RateUnavailable(f"no answer within {self._call_budget:g}s") from None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # a worker thread
        return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _decimal(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


__all__ = [
    "Conversion",
    "InvalidAmount",
    "InvalidSymbol",
    "Rate",
    "RateService",
    "RateUnavailable",
    "UnknownSymbol",
    "check_symbol",
]
