"""The API's CryptoQuoteClient against housify-soap over real HTTP (zeep AsyncClient from the WSDL)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from housify_api.crypto_quotes import CryptoQuoteClient, Quote, QuoteUnavailable, UnknownAsset

from .conftest import fresh_symbol

pytestmark = pytest.mark.timeout(60)


async def test_convert_usd_price_into_a_coin(soap_server, fake_binance):
    coin = fresh_symbol("")
    fake_binance.prices[coin + "USDT"] = "40000"
    client = CryptoQuoteClient(soap_server.wsdl_url, timeout=5)
    try:
        quotes = await asyncio.gather(*(client.convert(Decimal("9.99"), "USD", coin.lower()) for _ in range(5)))
    finally:
        await client.aclose()
    quote = quotes[0]
    assert isinstance(quote, Quote)
    assert (quote.amount, quote.symbol, quote.stale) == (Decimal("0.00024975"), coin + "USDT", False)
    assert quote.rate == Decimal(1) / Decimal(40000)
    assert quote.fetched_at.utcoffset().total_seconds() == 0
    assert fake_binance.count(coin + "USDT") == 1  # five concurrent quotes, one upstream price


async def test_unknown_and_malformed_assets_raise_unknown_asset(soap_server):
    client = CryptoQuoteClient(soap_server.wsdl_url, timeout=5)
    try:
        with pytest.raises(UnknownAsset) as unknown:
            await client.convert(Decimal("1"), "USD", "NOSUCHCOIN")
        assert unknown.value.asset == "NOSUCHCOIN" and "NOSUCHCOIN" in str(unknown.value)
        with pytest.raises(UnknownAsset) as malformed:
            await client.convert(Decimal("1"), "USD", "B!")
        assert malformed.value.asset == "B!"
    finally:
        await client.aclose()


async def test_server_fault_raises_quote_unavailable(soap_server, fake_binance):
    coin = fresh_symbol("")
    fake_binance.prices[coin + "USDT"] = "1"
    fake_binance.errors[coin + "USDT"] = 503
    fake_binance.errors["USDT" + coin] = 503
    client = CryptoQuoteClient(soap_server.wsdl_url, timeout=5)
    try:
        # the upstream's status stays in the log; the message names the symbol, no internal text (docs/security.md)
        with pytest.raises(QuoteUnavailable, match=r"could not quote \w+ right now"):
            await client.convert(Decimal("1"), "USD", coin)
    finally:
        await client.aclose()


async def test_service_down_or_unconfigured_raises_quote_unavailable():
    from testkit import free_port

    down = CryptoQuoteClient(f"http://127.0.0.1:{free_port()}/soap?wsdl", timeout=2)
    with pytest.raises(QuoteUnavailable, match="unavailable"):
        await down.convert(Decimal("1"), "USD", "BTC")
    with pytest.raises(QuoteUnavailable, match="HOUSIFY_SOAP_WSDL_URL"):
        await CryptoQuoteClient("").convert(Decimal("1"), "USD", "BTC")
