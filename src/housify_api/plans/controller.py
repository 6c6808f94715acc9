"""``GET /subscriptions``: the levels, priced in USD or converted to another currency through housify-soap."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from litestar import get
from litestar.datastructures import State
from litestar.exceptions import ServiceUnavailableException, ValidationException
from litestar.params import Parameter

from housify_api.plans.service import Level, list_levels
from housify_api.schemas import Output
from housify_api.system.error_docs import documented

log = logging.getLogger("housify_api.plans")

CURRENCY = re.compile(r"^[A-Za-z0-9]{2,10}$")


class PricedLevel(Output):
    """A level plus its price in ``currency`` (``price`` equals ``price_usd`` for USD).

    ``rate`` is USD→currency from housify-soap, ``quoted_at`` when that rate was fetched and
    ``stale`` whether the service answered from its cache after an upstream failure; all
    ``null`` for USD.
    """

    level: Level
    currency: str
    price: Decimal
    rate: Decimal | None = None
    quoted_at: datetime | None = None
    stale: bool | None = None


@get("/subscriptions", opt={"exclude_from_auth": True}, operation_id="list_subscriptions", tags=["plans"],
     raises=[documented(422, "currency: not quoted by the rates service")])
async def subscriptions(
    state: State,
    currency: Annotated[str, Parameter(description="USD (default) or an asset housify-soap quotes, e.g. BTC", max_length=10)] = "USD",
) -> list[PricedLevel]:
    """The subscription levels. With ``currency`` other than USD each price is converted by housify-soap
    (``HOUSIFY_SOAP_WSDL_URL``): 422 naming ``currency`` when it is unknown there, 503 when it cannot quote."""
    if not CURRENCY.match(currency):
        raise ValidationException(f"currency: {currency!r} is not an asset symbol (2-10 letters or digits)")
    currency = currency.upper()
    levels = await list_levels()
    if currency == "USD":
        return [PricedLevel(level=level, currency="USD", price=level.price_usd) for level in levels]
    client = _quote_client(state)
    from housify_api.crypto_quotes import QuoteUnavailable, UnknownAsset

    try:
        quotes = await asyncio.gather(*(client.convert(level.price_usd, "USD", currency) for level in levels))
    except UnknownAsset as exc:
        raise ValidationException(f"currency: {currency!r} is not quoted by the rates service ({exc})", status_code=422) from exc
    except QuoteUnavailable as exc:
        log.error("price quote USD->%s unavailable: %s", currency, exc)
        raise ServiceUnavailableException(f"currency conversion unavailable: {exc}") from exc
    return [
        PricedLevel(level=level, currency=currency, price=quote.amount, rate=quote.rate, quoted_at=quote.fetched_at,
                    stale=getattr(quote, "stale", None))
        for level, quote in zip(levels, quotes, strict=True)
    ]


def _quote_client(state: State):  # noqa: ANN202 - housify_api.crypto_quotes.CryptoQuoteClient, imported lazily
    """One ``CryptoQuoteClient`` per app (``app.state.quote_client``), made on first use; closed by the lifespan."""
    client = state.get("quote_client")
    if client is None:
        settings = state.settings
        if not settings.soap_wsdl_url:
            raise ServiceUnavailableException("currency conversion is not configured (HOUSIFY_SOAP_WSDL_URL)")
        try:
            from housify_api.crypto_quotes import CryptoQuoteClient
        except ImportError as exc:
            raise ServiceUnavailableException("currency conversion is not available in this build") from exc
        client = CryptoQuoteClient(settings.soap_wsdl_url)
        state.quote_client = client
    return client
