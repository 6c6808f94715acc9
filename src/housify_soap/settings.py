"""Settings of housify-soap, read from ``HOUSIFY_*`` environment variables (listed in docs/soap.md).

Every field is documented in ``docs/soap.md``; the variable is the field name
upper-cased with the ``HOUSIFY_`` prefix (``soap_binance_url`` <-
``HOUSIFY_SOAP_BINANCE_URL``), see :func:`housify_common.settings.load_settings`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from housify_common.settings import load_settings

Seconds = Annotated[float, msgspec.Meta(gt=0)]


class SoapSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Configuration of the CryptoRateService process.

    Durations are seconds, sizes bytes.
    """

    #: ``postgresql://…`` or ``sqlite:///…``; empty = the embedded SQLite file.
    #: piccolo reads it through ``PICCOLO_CONF``; kept here so it is documented and checked in one place.
    database_url: str = ""
    #: Base URL of Binance's REST API (tests point it at a local fake).
    soap_binance_url: str = "https://api.binance.com"
    #: Timeout of one upstream request (connect + read).
    soap_binance_timeout: Seconds = 2.0
    #: Extra attempts after a timeout, connection error or 5xx (0 = one attempt only).
    soap_binance_retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 1
    #: A fetched price (or, when Binance fails, the stale answer or the failure) is reused this long,
    #: so a burst of calls makes one upstream request.
    soap_cache_ttl: Annotated[float, msgspec.Meta(ge=0)] = 2.0
    #: Binance's "unknown symbol" answer is reused this long (a conversion tries the direct pair first,
    #: so USDT->BTC asks for USDTBTC, unlisted, before BTCUSDT; listings change rarely).
    soap_unknown_symbol_ttl: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    #: Symbols the price cache remembers at most (least recently used go first): SOAP needs no login,
    #: so the cache must not grow with whatever symbols strangers ask for (issue 21 item 7).
    soap_cache_max_symbols: Annotated[int, msgspec.Meta(ge=16)] = 4096
    #: When Binance is unreachable, a stored price at most this old is answered (marked stale).
    soap_stale_max_age: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    #: ``binance_data`` rows older than this many hours are deleted, except each symbol's newest
    #: (kept whatever its age so ``GetAllCryptoRates`` answers). Never less than ``soap_stale_max_age``.
    #: 7 days: a week of history to trace a quoted price back to (e.g. a customer's question about last
    #: week's price) while bounding the table (<= 302,400 rows per symbol at the 2 s cache TTL).
    soap_retention_hours: Annotated[float, msgspec.Meta(gt=0)] = 168.0
    #: Seconds between two retention runs (the first runs at start-up).
    soap_retention_interval: Seconds = 3600.0
    #: Rows deleted per statement (each its own short transaction, so no long lock).
    soap_retention_batch: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5000
    #: Largest accepted SOAP request body; larger ones get a Fault before any parsing.
    soap_max_request_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 65536
    #: Threads running spyne: SOAP requests processed at once (more helps cold-cache waits,
    #: fewer helps warm-cache throughput through less GIL contention; bench/soap_throughput.py).
    soap_threads: Annotated[int, msgspec.Meta(ge=1, le=256)] = 8


def get_settings() -> SoapSettings:
    """Settings from the environment; raises ``SettingsError`` naming the bad variable."""
    return load_settings(SoapSettings)
