"""The spyne ``CryptoRateService`` (SOAP 1.1 in and out, WSDL at ``?wsdl``; docs/soap.md).

Operations (all prices ``xs:decimal``, never floats):

- ``GetCryptoRate(symbol) -> CryptoRateResponse{Symbol, Price, FetchedAt, AgeSeconds, Stale}``
- ``GetAllCryptoRates() -> CryptoRateResponse[]``: newest stored price per symbol
- ``ConvertAmount(amount, fromAsset, toAsset) -> ConversionResponse{Amount, Rate, Symbol, FetchedAt, AgeSeconds, Stale}``

Fault codes are listed in :data:`FAULT_CODES` and ``docs/soap.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Protocol

import spyne.const
from spyne import Application, Array, Boolean, ComplexModel, DateTime, Fault, Integer, ServiceBase, Unicode, rpc
from spyne import Decimal as XsDecimal
from spyne.protocol.soap import Soap11

from housify_soap.binance import UnknownSymbol
from housify_soap.rates import (
    Conversion,
    InvalidAmount,
    InvalidSymbol,
    Rate,
    RateService,
    RateUnavailable,
    age_seconds,
    check_amount,
    check_symbol,
)

log = logging.getLogger(__name__)
# spyne logs every Fault with a full traceback; a client's bad symbol is not our error and
# would flood the log. Server faults are logged above in one line.
logging.getLogger("spyne.application.client").setLevel(logging.CRITICAL)
logging.getLogger("spyne.application.server").setLevel(logging.CRITICAL)
# spyne's MethodContext.close() runs a full gc.collect() whenever a second has passed since
# the last one, to close the temporary files of uploads. This service has none (the guard
# buffers every body in memory), and the full collection held the GIL for ~20-30 ms each
# second: ~20 % of the server's CPU under load (py-spy, bench/soap_throughput.py) and a
# pause for every call in flight. Python's own generational collector still runs.
spyne.const.MIN_GC_INTERVAL = float("inf")

#: Target namespace of the WSDL and of every element (under the Housify domain).
TNS = "urn:housify:soap:crypto"

#: faultcode -> meaning; ``Client.*`` means fix the request, ``Server.*`` means try later.
FAULT_CODES = {
    "Client.InvalidSymbol": "symbol/asset does not match ^[A-Z0-9]{2,20}$",
    "Client.UnknownSymbol": "Binance does not list the symbol (or neither pair of a conversion)",
    "Client.InvalidAmount": "amount is not a finite number >= 0, below 1e30, at least 1e-30, at most 40 digits",
    "Client.MalformedRequest": "not well-formed XML or not a SOAP 1.1 envelope",
    "Client.DTDForbidden": "the request carries a DOCTYPE (SOAP 1.1 §3 forbids DTDs; refused before parsing entities)",
    "Client.RequestTooLarge": "body larger than HOUSIFY_SOAP_MAX_REQUEST_BYTES (HTTP 413)",
    "Client.ValidationError": "spyne: a value does not fit its XML Schema type",
    "Client.ResourceNotFound": "spyne: unknown operation or wrong namespace",
    "Server.UpstreamUnavailable": "Binance failed (timeout, 5xx, unreachable) and no stored price is young enough",
}


#: xs:decimal in plain notation: spyne writes str(Decimal), and "1E-7" is not a valid xs:decimal.
PlainDecimal = XsDecimal(str_format="{:f}", min_occurs=1)


class FiniteDecimal(XsDecimal):
    """xs:decimal input that refuses NaN/Infinity as a validation Fault.

    spyne's own check compares NaN with its bounds, which raises
    ``decimal.InvalidOperation`` and escapes as a bare HTTP 500.
    """

    __type_name__ = "decimal"
    __namespace__ = "http://www.w3.org/2001/XMLSchema"

    @staticmethod
    def validate_native(cls: type, value: Decimal | None) -> bool:  # noqa: N805 - spyne's signature
        return value is None or (value.is_finite() and XsDecimal.validate_native(cls, value))


class CryptoRateResponse(ComplexModel):
    """One symbol's price in quote units per base unit (``BTCUSDT`` = USDT per BTC)."""

    __namespace__ = TNS
    _type_info = [
        ("Symbol", Unicode(min_occurs=1)),
        ("Price", PlainDecimal),
        ("FetchedAt", DateTime(min_occurs=1, timezone=True)),
        ("AgeSeconds", Integer(min_occurs=1)),
        ("Stale", Boolean(min_occurs=1)),
    ]


class ConversionResponse(ComplexModel):
    """``Amount`` of ``toAsset`` = ``amount`` x ``Rate``; ``Rate`` comes from ``Symbol``'s price or its inverse."""

    __namespace__ = TNS
    _type_info = [
        ("Amount", PlainDecimal),
        ("Rate", PlainDecimal),
        ("Symbol", Unicode(min_occurs=1)),
        ("FetchedAt", DateTime(min_occurs=1, timezone=True)),
        ("AgeSeconds", Integer(min_occurs=1)),
        ("Stale", Boolean(min_occurs=1)),
    ]


class CallContext(Protocol):
    """spyne's ``MethodContext`` as the operations use it: ``udc`` is the :class:`RateService`
    (:func:`build_application` attaches it)."""

    udc: RateService


@contextmanager
def _as_faults() -> Iterator[None]:
    """Map the rate rules' exceptions onto SOAP Faults with their reason."""
    try:
        yield
    except InvalidSymbol as exc:
        raise Fault("Client.InvalidSymbol", str(exc)) from None
    except InvalidAmount as exc:
        raise Fault("Client.InvalidAmount", str(exc)) from None
    except UnknownSymbol as exc:
        raise Fault("Client.UnknownSymbol", str(exc)) from None
    except RateUnavailable as exc:
        log.warning("Server.UpstreamUnavailable: %s", exc)
        raise Fault("Server.UpstreamUnavailable", str(exc)) from None


def _rate_response(rate: Rate) -> CryptoRateResponse:
    return CryptoRateResponse(
        Symbol=rate.symbol, Price=rate.price, FetchedAt=rate.fetched_at, AgeSeconds=rate.age_seconds(), Stale=rate.stale
    )


def _conversion_response(conv: Conversion) -> ConversionResponse:
    return ConversionResponse(
        Amount=conv.amount,
        Rate=conv.rate,
        Symbol=conv.symbol,
        FetchedAt=conv.fetched_at,
        AgeSeconds=age_seconds(conv.fetched_at),
        Stale=conv.stale,
    )


class CryptoRateService(ServiceBase):
    """Live cryptocurrency prices from Binance. ``ctx.udc`` is the :class:`RateService`."""

    @rpc(Unicode, _returns=CryptoRateResponse)
    def GetCryptoRate(ctx: CallContext, symbol: str | None) -> CryptoRateResponse:  # noqa: N802,N805 - SOAP operation names; spyne passes ctx
        """Latest price of a Binance symbol such as BTCUSDT."""
        with _as_faults():
            return _rate_response(ctx.udc.rate_blocking(check_symbol(symbol, "symbol")))

    @rpc(_returns=Array(CryptoRateResponse))
    def GetAllCryptoRates(ctx: CallContext) -> list[CryptoRateResponse]:  # noqa: N802,N805
        """Newest stored price of every symbol fetched so far."""
        with _as_faults():
            return [_rate_response(rate) for rate in ctx.udc.latest_all_blocking()]

    @rpc(FiniteDecimal, Unicode, Unicode, _returns=ConversionResponse)
    def ConvertAmount(  # noqa: N802,N805
        ctx: CallContext,
        amount: Decimal | None,
        fromAsset: str | None,  # noqa: N803 - the SOAP parameter's name
        toAsset: str | None,  # noqa: N803
    ) -> ConversionResponse:
        """Convert amount of fromAsset into toAsset by the direct Binance pair or its inverse."""
        with _as_faults():
            value = check_amount(amount)  # the order RateService.convert checks them in
            from_asset, to_asset = check_symbol(fromAsset, "fromAsset"), check_symbol(toAsset, "toAsset")
            return _conversion_response(ctx.udc.convert_blocking(value, from_asset, to_asset))


def build_application(rates: RateService) -> Application:
    """The spyne Application for ``rates`` (SOAP 1.1 in and out, soft validation)."""
    app = Application(
        [CryptoRateService],
        tns=TNS,
        name="CryptoRateService",
        in_protocol=Soap11(validator="soft"),
        out_protocol=Soap11(),
    )

    def _attach(ctx: CallContext) -> None:
        ctx.udc = rates

    app.event_manager.add_listener("method_call", _attach)
    return app
