"""CryptoRateService over real HTTP, called by zeep from the WSDL URL, against a fake Binance and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
import zeep.exceptions
from lxml import etree

from .conftest import CACHE_TTL, fresh_symbol

pytestmark = pytest.mark.timeout(60)


async def _rows(symbol: str) -> list[dict]:
    from housify_soap.tables import BinanceData

    return await BinanceData.select().where(BinanceData.symbol == symbol).order_by(BinanceData.fetched_at)


async def _fault(call) -> zeep.exceptions.Fault:
    with pytest.raises(zeep.exceptions.Fault) as info:
        await call
    return info.value


def _code(fault: zeep.exceptions.Fault) -> str:
    return fault.code.rpartition(":")[2]


async def test_wsdl_names_service_operations_and_its_own_address(soap_server):
    resp = httpx.get(soap_server.wsdl_url)
    assert resp.status_code == 200
    wsdl = etree.fromstring(resp.content)
    ns = {"wsdl": "http://schemas.xmlsoap.org/wsdl/", "soap": "http://schemas.xmlsoap.org/wsdl/soap/"}
    assert wsdl.get("targetNamespace") == "urn:housify:soap:crypto"
    assert wsdl.xpath("//wsdl:service/@name", namespaces=ns) == ["CryptoRateService"]
    operations = set(wsdl.xpath("//wsdl:portType/wsdl:operation/@name", namespaces=ns))
    assert operations == {"GetCryptoRate", "GetAllCryptoRates", "ConvertAmount"}
    assert wsdl.xpath("//soap:address/@location", namespaces=ns) == [soap_server.soap_url]


async def test_health(soap_server):
    resp = httpx.get(soap_server.base_url + "/health")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


async def test_get_crypto_rate_is_exact_decimal_and_stored(zeep_client, fake_binance):
    symbol = fresh_symbol()
    fake_binance.prices[symbol] = "43000.12345678"
    before = datetime.now(UTC)
    result = await zeep_client.service.GetCryptoRate(symbol=symbol)
    assert result.Symbol == symbol
    assert result.Price == Decimal("43000.12345678") and isinstance(result.Price, Decimal)
    assert result.Stale is False and result.AgeSeconds == 0
    rows = await _rows(symbol)
    assert [r["price"] for r in rows] == [Decimal("43000.12345678")]
    assert before - timedelta(seconds=1) <= rows[0]["fetched_at"] <= datetime.now(UTC)


async def test_burst_of_calls_makes_one_upstream_request(zeep_client, fake_binance):
    symbol = fresh_symbol()
    fake_binance.prices[symbol] = "2.5"
    fake_binance.delays[symbol] = 0.2  # all 30 calls arrive while the first fetch is in flight
    results = await asyncio.gather(*(zeep_client.service.GetCryptoRate(symbol=symbol) for _ in range(30)))
    assert {r.Price for r in results} == {Decimal("2.5")}
    assert fake_binance.count(symbol) == 1
    assert len(await _rows(symbol)) == 1


async def test_changed_price_is_seen_after_the_cache_expires(zeep_client, fake_binance):
    symbol = fresh_symbol()
    fake_binance.prices[symbol] = "100.00"
    assert (await zeep_client.service.GetCryptoRate(symbol=symbol)).Price == Decimal("100.00")
    fake_binance.prices[symbol] = "101.50"
    assert (await zeep_client.service.GetCryptoRate(symbol=symbol)).Price == Decimal("100.00")  # cached
    await asyncio.sleep(CACHE_TTL + 0.1)
    assert (await zeep_client.service.GetCryptoRate(symbol=symbol)).Price == Decimal("101.50")
    assert [r["price"] for r in await _rows(symbol)] == [Decimal("100.00"), Decimal("101.50")]
    assert fake_binance.count(symbol) == 2


async def test_get_all_crypto_rates_gives_latest_stored_price_per_symbol(zeep_client, fake_binance):
    from housify_soap.tables import BinanceData

    first, second = fresh_symbol(), fresh_symbol()
    old = datetime.now(UTC) - timedelta(minutes=5)
    await BinanceData.insert(BinanceData(symbol=first, price=Decimal("1.00"), fetched_at=old))
    fake_binance.prices.update({first: "1.25", second: "7.00000001"})
    await zeep_client.service.GetCryptoRate(symbol=first)
    await zeep_client.service.GetCryptoRate(symbol=second)
    rates = {r.Symbol: r for r in await zeep_client.service.GetAllCryptoRates()}
    assert rates[first].Price == Decimal("1.25") and rates[second].Price == Decimal("7.00000001")
    assert rates[first].AgeSeconds < 5


async def test_convert_amount_direct_inverse_and_same_asset(zeep_client, fake_binance):
    base = "Y" + fresh_symbol("")[1:]
    fake_binance.prices[base + "USDT"] = "40000"
    direct = await zeep_client.service.ConvertAmount(amount=Decimal("0.5"), fromAsset=base, toAsset="USDT")
    assert (direct.Amount, direct.Rate, direct.Symbol) == (Decimal("20000.0"), Decimal("40000"), base + "USDT")
    inverse = await zeep_client.service.ConvertAmount(amount=Decimal("9.99"), fromAsset="USDT", toAsset=base)
    assert inverse.Symbol == base + "USDT"
    assert inverse.Rate == Decimal(1) / Decimal(40000)
    assert inverse.Amount == Decimal("9.99") * inverse.Rate == Decimal("0.00024975")
    same = await zeep_client.service.ConvertAmount(amount=Decimal("3"), fromAsset="USDT", toAsset="USDT")
    assert (same.Amount, same.Rate) == (Decimal(3), Decimal(1))


async def test_tiny_rates_are_plain_xs_decimal_on_the_wire(soap_server, fake_binance):
    base = "Z" + fresh_symbol("")[1:]
    fake_binance.prices[base + "USDT"] = "50000000"
    envelope = _envelope(
        f"<c:ConvertAmount><c:amount>1</c:amount><c:fromAsset>USDT</c:fromAsset><c:toAsset>{base}</c:toAsset></c:ConvertAmount>"
    )
    resp = httpx.post(soap_server.soap_url, content=envelope, headers={"Content-Type": "text/xml"})
    rate = etree.fromstring(resp.content).findtext(".//{urn:housify:soap:crypto}Rate")
    assert rate == "0.00000002"  # not "2E-8", which xs:decimal forbids


@pytest.mark.parametrize("symbol", ["btcusdt", "B", "BTC-USDT", "A" * 21, "BTC USDT", ""])
async def test_malformed_symbol_is_a_client_fault_without_upstream_call(zeep_client, fake_binance, symbol):
    seen = len(fake_binance.requests)
    fault = await _fault(zeep_client.service.GetCryptoRate(symbol=symbol))
    assert _code(fault) == "Client.InvalidSymbol" and "^[A-Z0-9]{2,20}$" in fault.message
    assert len(fake_binance.requests) == seen


async def test_unknown_symbol_is_a_client_fault_and_nothing_is_stored(zeep_client, fake_binance):
    symbol = fresh_symbol()  # not in fake_binance.prices: Binance's 400 -1121
    fault = await _fault(zeep_client.service.GetCryptoRate(symbol=symbol))
    assert _code(fault) == "Client.UnknownSymbol" and symbol in fault.message
    assert await _rows(symbol) == []


async def test_convert_with_no_pair_either_way_is_unknown_symbol(zeep_client):
    fault = await _fault(zeep_client.service.ConvertAmount(amount=Decimal(1), fromAsset="USDT", toAsset="NOSUCHCOIN"))
    assert (
        _code(fault) == "Client.UnknownSymbol"
        and "USDTNOSUCHCOIN" in fault.message
        and "NOSUCHCOINUSDT" in fault.message
    )


async def test_negative_amount_is_a_client_fault(zeep_client):
    fault = await _fault(zeep_client.service.ConvertAmount(amount=Decimal("-1"), fromAsset="USDT", toAsset="BTC"))
    assert _code(fault) == "Client.InvalidAmount"


async def test_upstream_5xx_is_a_server_fault_after_retry_and_stores_nothing(zeep_client, fake_binance):
    symbol = fresh_symbol()
    fake_binance.prices[symbol] = "5"
    fake_binance.errors[symbol] = 503
    fault = await _fault(zeep_client.service.GetCryptoRate(symbol=symbol))
    assert _code(fault) == "Server.UpstreamUnavailable" and "HTTP 503" in fault.message
    assert fake_binance.count(symbol) == 2  # one retry (HOUSIFY_SOAP_BINANCE_RETRIES=1)
    assert await _rows(symbol) == []
    again = await _fault(zeep_client.service.GetCryptoRate(symbol=symbol))
    assert _code(again) == "Server.UpstreamUnavailable"
    assert fake_binance.count(symbol) == 2  # the failure is remembered for the cache TTL: no new upstream wait


async def test_upstream_timeout_is_a_server_fault_quickly(zeep_client, fake_binance):
    symbol = fresh_symbol()
    fake_binance.prices[symbol] = "5"
    fake_binance.delays[symbol] = 3.0
    started = time.monotonic()
    fault = await _fault(zeep_client.service.GetCryptoRate(symbol=symbol))
    assert time.monotonic() - started < 2.5  # 2 x 0.5 s timeout + 0.1 s back-off, not 2 x 3 s
    assert _code(fault) == "Server.UpstreamUnavailable" and "timed out" in fault.message
    assert await _rows(symbol) == []


async def test_stored_price_answers_when_binance_fails_and_says_its_age(zeep_client, fake_binance):
    symbol = fresh_symbol()
    fake_binance.prices[symbol] = "321.5"
    assert (await zeep_client.service.GetCryptoRate(symbol=symbol)).Stale is False
    fake_binance.errors[symbol] = 502
    await asyncio.sleep(CACHE_TTL + 0.1)
    stale = await zeep_client.service.GetCryptoRate(symbol=symbol)
    assert (stale.Price, stale.Stale) == (Decimal("321.5"), True)
    assert stale.AgeSeconds >= 1
    upstream = fake_binance.count(symbol)
    assert (await zeep_client.service.GetCryptoRate(symbol=symbol)).Stale is True
    assert fake_binance.count(symbol) == upstream  # the stale answer is cached like a price


async def test_stored_price_older_than_the_limit_is_not_answered(zeep_client, fake_binance):
    from housify_soap.tables import BinanceData

    symbol = fresh_symbol()
    await BinanceData.insert(
        BinanceData(symbol=symbol, price=Decimal("9"), fetched_at=datetime.now(UTC) - timedelta(hours=1))
    )
    fake_binance.errors[symbol] = 500
    fault = await _fault(zeep_client.service.GetCryptoRate(symbol=symbol))
    assert _code(fault) == "Server.UpstreamUnavailable" and "no stored price" in fault.message


async def test_slow_upstream_does_not_block_the_event_loop(soap_server, zeep_client, fake_binance):
    symbols = [fresh_symbol() for _ in range(12)]
    for symbol in symbols:
        fake_binance.prices[symbol] = "1"
        fake_binance.delays[symbol] = 0.4
    calls = asyncio.gather(*(zeep_client.service.GetCryptoRate(symbol=s) for s in symbols))
    await asyncio.sleep(0.15)  # the 12 fetches are in flight now
    async with httpx.AsyncClient() as http:
        started = time.monotonic()
        resp = await http.get(soap_server.base_url + "/health")
        health_seconds = time.monotonic() - started
    assert resp.status_code == 200
    assert health_seconds < 0.2
    assert len(await calls) == 12


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:housify:soap:crypto">'
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode()
