"""Issue 21 items 5 and 7: amounts are bounded before they are written out; the price cache is bounded,
keeps failures as kind and message, and Binance's 429/418 stop further requests for a while.
Each test fails on 02e5a16."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from decimal import Decimal

import pytest

from housify_soap.binance import BinanceClient, UnknownSymbol, UpstreamError
from housify_soap.rates import InvalidAmount, InvalidSymbol, RateService, check_symbol

from .conftest import fresh_symbol
from .test_hostile import envelope, fault_of, post


class _Unlisted:
    """A Binance that lists nothing (answers like its HTTP 400 for every symbol)."""

    calls = 0

    async def fetch_price(self, symbol: str) -> Decimal:
        self.calls += 1
        raise UnknownSymbol(symbol, "Invalid symbol.")


def _service(binance: object, **overrides: float) -> RateService:
    options = {"cache_ttl": 2.0, "unknown_ttl": 300.0, "stale_max_age": 300.0, "store": None, "call_budget": 5.0}
    return RateService(binance, **{**options, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["1e99999999", "1e30", "1e-31", "1." + "1" * 40])
def test_an_amount_out_of_bounds_is_a_fault_not_100_mb(soap_server, amount):
    """On 02e5a16 ``1e99999999`` (282 bytes) came back as 100 MB of digits."""
    call = f"<c:ConvertAmount><c:amount>{amount}</c:amount><c:fromAsset>USDT</c:fromAsset><c:toAsset>USDT</c:toAsset></c:ConvertAmount>"
    resp, seconds = post(soap_server, envelope(call))
    assert resp.status_code == 500 and fault_of(resp)[0] == "Client.InvalidAmount", resp.content[:300]
    assert len(resp.content) < 2000 and seconds < 2


async def test_the_convert_rule_itself() -> None:
    rates = _service(_Unlisted())
    for amount in (Decimal("1e99999999"), Decimal("-1"), Decimal("1e-40"), Decimal("9" * 41)):
        with pytest.raises(InvalidAmount):
            await rates.convert(amount, "USDT", "USDT")
    assert (await rates.convert(Decimal("123456789.000000001"), "BTC", "BTC")).amount == Decimal("123456789.000000001")
    assert (await rates.convert(Decimal(0), "BTC", "BTC")).amount == 0


def test_a_symbol_with_a_trailing_newline_is_invalid() -> None:
    """On 02e5a16 ``re.match`` with ``$`` accepted ``"BTCUSDT\\n"``: a second cache key and a split log line."""
    with pytest.raises(InvalidSymbol):
        check_symbol("BTCUSDT\n", "symbol")
    assert check_symbol("BTCUSDT", "symbol") == "BTCUSDT"


async def test_the_cache_is_bounded_and_keeps_no_exceptions() -> None:
    """On 02e5a16 5,000 distinct symbols kept +27 MiB (exceptions with tracebacks), past the TTL too."""
    binance = _Unlisted()
    rates = _service(binance, unknown_ttl=0.5, cache_size=1000)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(5000):
        with pytest.raises(UnknownSymbol):
            await rates.rate(f"NOSUCH{n:05d}")
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"\n5,000 unknown symbols: cache holds {rates.cached_symbols} entries, +{grown / 2**20:.1f} MiB traced")
    assert rates.cached_symbols <= 1000
    assert grown < 2 * 2**20, grown
    assert not any(isinstance(value, BaseException) for _, value in rates._cache.values())
    with pytest.raises(UnknownSymbol):  # a remembered answer: no new Binance call
        await rates.rate("NOSUCH04999")
    assert binance.calls == 5000
    await asyncio.sleep(0.6)
    assert rates.cached_symbols == 0  # gone with their TTL


async def test_binance_rate_limit_opens_the_breaker(fake_binance) -> None:  # noqa: ANN001
    """On 02e5a16 each new symbol still went to Binance after its 429 (until an IP ban, 418)."""
    limited, other = fresh_symbol(), fresh_symbol()
    fake_binance.prices[other] = "1.5"
    fake_binance.errors[limited] = 429
    client = BinanceClient(fake_binance.url, timeout=2.0, retries=1)
    try:
        with pytest.raises(UpstreamError, match="429"):
            await client.fetch_price(limited)
        assert fake_binance.count(limited) == 1  # not retried
        started = time.monotonic()
        with pytest.raises(UpstreamError, match="back off"):
            await client.fetch_price(other)
        assert fake_binance.count(other) == 0 and time.monotonic() - started < 0.1
        client.closed_until = 0.0  # the wait is over
        assert await client.fetch_price(other) == Decimal("1.5")
    finally:
        fake_binance.errors.pop(limited, None)
        await client.aclose()


async def test_an_unreachable_binance_is_reported_without_resolver_text() -> None:
    """Item 16: on 02e5a16 the Fault (and the API's 503) carried ``ConnectError: [Errno ...] ...``."""
    from testkit import free_port

    client = BinanceClient(f"http://127.0.0.1:{free_port()}", timeout=1.0, retries=0)
    try:
        with pytest.raises(UpstreamError) as failed:
            await client.fetch_price("BTCUSDT")
    finally:
        await client.aclose()
    assert str(failed.value) == "Binance unreachable (ConnectError)"
