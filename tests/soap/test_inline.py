"""Warm-cache GetCryptoRate runs on the event loop; everything that may wait stays in the worker threads."""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal

import httpx
import pytest

from housify_soap.binance import BinanceClient
from housify_soap.rates import RateService, RateUnavailable

from .conftest import fresh_symbol, start_soap_server, stop_soap_server

pytestmark = pytest.mark.timeout(60)

SLOW_UPSTREAM = 1.5


def _get_rate(symbol: str) -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:housify:soap:crypto">'
        f"<soapenv:Body><c:GetCryptoRate><c:symbol>{symbol}</c:symbol></c:GetCryptoRate></soapenv:Body></soapenv:Envelope>"
    ).encode()


@pytest.fixture
def two_thread_server(migrated_db, fake_binance):
    server = start_soap_server(
        fake_binance.url, HOUSIFY_SOAP_THREADS="2", HOUSIFY_SOAP_CACHE_TTL="30", HOUSIFY_SOAP_BINANCE_TIMEOUT="5"
    )
    yield server
    stop_soap_server(server)


async def test_warm_cache_call_is_answered_while_every_worker_thread_waits_on_binance(two_thread_server, fake_binance):
    warm, slow = fresh_symbol(), [fresh_symbol(), fresh_symbol()]
    fake_binance.prices[warm] = "43000.12"
    for symbol in slow:
        fake_binance.prices[symbol] = "1"
        fake_binance.delays[symbol] = SLOW_UPSTREAM
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    url = two_thread_server.soap_url
    async with httpx.AsyncClient(headers=headers, timeout=10) as http:
        assert (await http.post(url, content=_get_rate(warm))).status_code == 200  # cache now warm
        cold = asyncio.gather(*(http.post(url, content=_get_rate(symbol)) for symbol in slow))
        await asyncio.sleep(0.3)  # both worker threads now wait on the slow fetches
        started = time.monotonic()
        resp = await http.post(url, content=_get_rate(warm))
        warm_seconds = time.monotonic() - started
        cold_responses = await cold
    assert resp.status_code == 200
    assert Decimal(re.search(rb"Price>([^<]+)<", resp.content).group(1).decode()) == Decimal("43000.12")
    assert warm_seconds < SLOW_UPSTREAM / 3, f"warm call queued behind the busy threads ({warm_seconds:.2f}s)"
    assert [r.status_code for r in cold_responses] == [200, 200]
    assert fake_binance.count(warm) == 1


async def test_cold_call_on_the_loop_thread_fails_at_once_instead_of_blocking_the_loop(fake_binance):
    binance = BinanceClient(fake_binance.url, timeout=2.0, retries=0)
    rates = RateService(binance, cache_ttl=30, unknown_ttl=30, stale_max_age=60, store=None, call_budget=3.0)
    rates.bind_loop(asyncio.get_running_loop())
    symbol = fresh_symbol()
    fake_binance.prices[symbol] = "1"
    try:
        assert not rates.is_warm(symbol, 0.25)
        started = time.monotonic()
        with pytest.raises(RateUnavailable, match="expired while the call was running"):
            rates.rate_blocking(symbol)
        assert time.monotonic() - started < 0.5
        assert fake_binance.count(symbol) == 0
    finally:
        await binance.aclose()
