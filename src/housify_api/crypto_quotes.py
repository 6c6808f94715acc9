"""Crypto price quotes for the API, from housify-soap's ``CryptoRateService`` (docs/soap.md).

The API reaches the SOAP service only through its WSDL (``HOUSIFY_SOAP_WSDL_URL``,
e.g. ``http://soap-host:8003/soap?wsdl``). The zeep ``AsyncClient`` is built
on first use, in a thread (zeep loads WSDLs synchronously), and then reused;
a failed build is retried on the next call.

Usage::

    client = CryptoQuoteClient(settings.soap_wsdl_url)
    quote = await client.convert(Decimal("9.99"), "USD", "BTC")   # Quote(amount=0.000232…, rate=…, symbol="BTCUSDT", …)

Errors: :class:`QuoteUnavailable` (service down, timed out or a ``Server``
Fault: answer 503), :class:`UnknownAsset` (a ``Client`` Fault about the
symbol: answer 422 naming the field).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import msgspec

log = logging.getLogger(__name__)

#: Binance lists no USD pairs; plan prices in USD are quoted through USDT (a 1:1 dollar stablecoin).
#: The Quote's ``symbol`` (e.g. ``BTCUSDT``) shows which pair was used.
ASSET_ALIASES = {"USD": "USDT"}


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """``amount`` of the target asset = input amount x ``rate``.

    ``symbol`` is the Binance pair whose price gave the rate (the rate is its
    inverse when only the reverse pair is listed); ``fetched_at`` (UTC) is when
    that price came from Binance; ``stale`` is true when Binance was
    unreachable and the SOAP service answered from a stored price.
    """

    amount: Decimal
    rate: Decimal
    symbol: str
    fetched_at: datetime
    stale: bool = False


class QuoteError(Exception):
    """Base of the errors below."""


class QuoteUnavailable(QuoteError):
    """The SOAP service is unreachable, timed out, or could not get a price (``Server`` Fault)."""


class UnknownAsset(QuoteError, ValueError):
    """The asset is malformed or Binance does not quote it (``Client.InvalidSymbol``/``Client.UnknownSymbol``).

    ``asset`` is the target asset asked for; the message is the service's reason.
    """

    def __init__(self, asset: str, message: str) -> None:
        super().__init__(message)
        self.asset = asset


class CryptoQuoteClient:
    """Async client of ``CryptoRateService.ConvertAmount``.

    Args:
        wsdl_url: the service's WSDL (``HOUSIFY_SOAP_WSDL_URL``); empty means "not configured" and
            every call raises :class:`QuoteUnavailable`.
        timeout: seconds for the whole call (WSDL load included) and for each HTTP request.
    """

    def __init__(self, wsdl_url: str, *, timeout: float = 10.0) -> None:
        self.wsdl_url = wsdl_url
        self.timeout = timeout
        self._client = None  # zeep.AsyncClient once built
        self._transport = None
        self._build_lock = asyncio.Lock()

    async def convert(self, amount: Decimal, from_asset: str, to_asset: str) -> Quote:
        """Convert ``amount`` of ``from_asset`` into ``to_asset`` (assets upper-cased; ``USD`` means USDT).

        Raises:
            UnknownAsset: the service refused an asset (bad format or not quoted by Binance).
            QuoteUnavailable: the service is down, slow beyond ``timeout``, or answered a Server Fault.
        """
        from zeep.exceptions import Error as ZeepError
        from zeep.exceptions import Fault

        source = _asset(from_asset)
        target = _asset(to_asset)
        try:
            async with asyncio.timeout(self.timeout):
                client = await self._zeep()
                result = await client.service.ConvertAmount(amount=amount, fromAsset=source, toAsset=target)
        except Fault as fault:
            code = (fault.code or "").rpartition(":")[2]
            if code in ("Client.InvalidSymbol", "Client.UnknownSymbol"):
                raise UnknownAsset(to_asset, fault.message or code) from None
            log.warning("crypto quote %s->%s failed: SOAP Fault %s: %s", source, target, code, fault.message)
            # the Fault's text names upstream internals (resolver errors, hosts): logged above, not answered
            raise QuoteUnavailable(f"price service could not quote {target} right now") from None
        except (TimeoutError, httpx.HTTPError, ZeepError, OSError) as exc:
            log.warning("crypto quote %s->%s failed: %s: %s", source, target, type(exc).__name__, exc)
            raise QuoteUnavailable(f"price service unavailable ({type(exc).__name__})") from None
        return Quote(
            amount=result.Amount,
            rate=result.Rate,
            symbol=result.Symbol,
            fetched_at=result.FetchedAt.astimezone(UTC),
            stale=bool(result.Stale),
        )

    async def aclose(self) -> None:
        """Close the HTTP clients of a built zeep client."""
        if self._transport is not None:
            await self._transport.aclose()
            self._transport.wsdl_client.close()
            self._client = self._transport = None

    async def _zeep(self) -> Any:
        if self._client is not None:
            return self._client
        if not self.wsdl_url:
            raise QuoteUnavailable("price service not configured (HOUSIFY_SOAP_WSDL_URL is empty)")
        async with self._build_lock:
            if self._client is None:
                self._client, self._transport = await asyncio.to_thread(self._build)
        return self._client

    def _build(self) -> tuple[Any, Any]:
        import zeep
        from zeep.transports import AsyncTransport

        # zeep docs ("Transports", asyncio): AsyncTransport needs an async client for calls and a sync one for the WSDL.
        transport = AsyncTransport(
            client=httpx.AsyncClient(timeout=self.timeout), wsdl_client=httpx.Client(timeout=self.timeout)
        )
        try:
            settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True)
            return zeep.AsyncClient(self.wsdl_url, transport=transport, settings=settings), transport
        except BaseException:
            transport.wsdl_client.close()
            raise


def _asset(value: str) -> str:
    upper = value.strip().upper()
    return ASSET_ALIASES.get(upper, upper)
