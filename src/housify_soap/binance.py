"""Binance's public price endpoint over httpx: ``GET {base}/api/v3/ticker/price?symbol=``.

Binance answers ``{"symbol": "BTCUSDT", "price": "43000.12000000"}``; an unknown
symbol is HTTP 400 ``{"code": -1121, "msg": "Invalid symbol."}`` (Binance Spot
API docs, "Error codes"). Prices are parsed from their string form into
``Decimal`` and never pass through a float.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal, InvalidOperation

import httpx
import msgspec

log = logging.getLogger(__name__)


class UpstreamError(Exception):
    """Binance could not give a price (timeout, connection error, 5xx, garbled answer); message says why."""


class UnknownSymbol(Exception):
    """Binance does not list the symbol (its HTTP 400, code -1121)."""

    def __init__(self, symbol: str, detail: str = "", *, message: str = "") -> None:
        self.symbol = symbol
        super().__init__(message or f"Binance does not list symbol {symbol!r}" + (f": {detail}" if detail else ""))


class _Ticker(msgspec.Struct):
    symbol: str
    price: str


class _BinanceError(msgspec.Struct):
    code: int = 0
    msg: str = ""


#: Seconds the client stops asking after Binance's 429 (rate limit) or 418 (IP ban) without ``Retry-After``.
DEFAULT_BACKOFF_SECONDS = 60.0


class BinanceClient:
    """Fetches one symbol's latest price; retries timeouts, connection errors and 5xx.

    A circuit breaker (issue 21 item 7): once Binance answers 429 (request weight over the limit) or
    418 (the address is banned for ignoring 429s), no request is sent until its ``Retry-After`` (or
    :data:`DEFAULT_BACKOFF_SECONDS`) has passed; calls fail at once with :class:`UpstreamError`
    meanwhile (the rate service then answers stored prices). Binance: "Repeatedly violating rate
    limits and/or failing to back off after receiving 429s will result in an automated IP ban (HTTP
    status 418)" (Binance Spot API documentation, "LIMITS").

    Args:
        base_url: e.g. ``https://api.binance.com`` (``HOUSIFY_SOAP_BINANCE_URL``).
        timeout: seconds for one attempt (connect + read).
        retries: extra attempts after a retryable failure, with 0.1 s, 0.2 s, … back-off.
    """

    def __init__(self, base_url: str, timeout: float, retries: int) -> None:
        self._retries = retries
        #: ``time.monotonic()`` before which no request is sent (the breaker is open).
        self.closed_until = 0.0
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json", "User-Agent": "housify-soap"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch_price(self, symbol: str) -> Decimal:
        """The latest price of ``symbol`` (quote units per base unit).

        Raises:
            UnknownSymbol: Binance answered 400 (not retried).
            UpstreamError: every attempt failed; the message carries the last reason.
        """
        wait = self.closed_until - time.monotonic()
        if wait > 0:
            raise UpstreamError(f"Binance asked us to back off (rate limit); not asking again for {wait:.0f} s")
        reason = ""
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(0.1 * 2 ** (attempt - 1))
            try:
                resp = await self._http.get("/api/v3/ticker/price", params={"symbol": symbol})
            except httpx.TimeoutException:
                reason = f"Binance timed out after {self._http.timeout.read}s"
            except httpx.TransportError as exc:
                # the exception's text (resolver errors, addresses) goes to the log only, not into Faults
                log.warning("binance fetch of %s: %s: %s", symbol, type(exc).__name__, exc)
                reason = f"Binance unreachable ({type(exc).__name__})"
            else:
                if resp.status_code == 200:
                    return _parse_price(resp.content, symbol)
                if resp.status_code == 400:
                    raise UnknownSymbol(symbol, _error_message(resp.content))
                reason = f"Binance answered HTTP {resp.status_code}"
                if resp.status_code in (418, 429):
                    backoff = _retry_after(resp.headers.get("Retry-After"))
                    self.closed_until = time.monotonic() + backoff
                    log.error("Binance answered %d: no requests for %.0f s", resp.status_code, backoff)
                    reason += f" (rate limit; not asking again for {backoff:.0f} s)"
                if resp.status_code < 500:  # 418/429 rate limits and other 4xx: retrying makes it worse
                    break
            log.warning(
                "binance fetch of %s failed (attempt %d/%d): %s", symbol, attempt + 1, self._retries + 1, reason
            )
        raise UpstreamError(reason)


def _retry_after(value: str | None) -> float:
    """Seconds of a ``Retry-After`` header (RFC 9110 §10.2.3, delay-seconds form), else the default."""
    try:
        return min(max(float(value or ""), 1.0), 3 * 24 * 3600.0)
    except ValueError:
        return DEFAULT_BACKOFF_SECONDS


def _parse_price(body: bytes, symbol: str) -> Decimal:
    try:
        ticker = msgspec.json.decode(body, type=_Ticker)
        price = Decimal(ticker.price)
    except (msgspec.DecodeError, InvalidOperation) as exc:
        raise UpstreamError(f"Binance sent an unreadable price for {symbol}: {exc}") from exc
    if ticker.symbol != symbol or not price.is_finite() or price <= 0:
        raise UpstreamError(f"Binance sent an implausible ticker for {symbol}: {body[:200]!r}")
    return price


def _error_message(body: bytes) -> str:
    try:
        return msgspec.json.decode(body, type=_BinanceError).msg
    except msgspec.DecodeError:
        return ""
