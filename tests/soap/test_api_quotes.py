"""End to end: fake Binance -> housify-soap (own process, real HTTP) -> the API's ``GET /subscriptions?currency=``.

The API reaches the SOAP service only through ``HOUSIFY_SOAP_WSDL_URL``
(docs/architecture.md). The API runs under uvicorn on this session's loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from testkit import AsgiServer

from .conftest import SoapServer, start_soap_server, stop_soap_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def own_soap_server(migrated_db: str, fake_binance) -> SoapServer:
    """A SOAP service of this module's own, so a test may stop it."""
    server = start_soap_server(fake_binance.url)
    yield server
    stop_soap_server(server)


@pytest.fixture(scope="module")
async def api_url(
    own_soap_server: SoapServer, tmp_path_factory: pytest.TempPathFactory, redis_prefix: str
) -> AsyncIterator[str]:
    from housify_api.app import create_app
    from housify_api.settings import load_api_settings

    settings = load_api_settings(
        data_dir=str(tmp_path_factory.mktemp("api-quotes")),
        soap_wsdl_url=own_soap_server.wsdl_url,
        # Own sub-prefix: this app's media consumer must not take other areas' job results.
        redis_prefix=f"{redis_prefix}soap-api:",
    )
    server = await AsgiServer(create_app(settings)).start()
    url = server.base_url
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(500):  # levels are seeded in the background at start-up
            if len((await client.get("/subscriptions")).json()) >= 2:
                break
            await asyncio.sleep(0.02)
    yield url
    await server.stop()


async def test_subscriptions_priced_in_btc_from_the_fake_binance(api_url, fake_binance):
    fake_binance.prices["BTCUSDT"] = "40000.00000000"
    before = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=api_url, timeout=15) as client:
        usd = {row["level"]["name"]: row for row in (await client.get("/subscriptions")).json()}
        resp = await client.get("/subscriptions", params={"currency": "BTC"})
    assert resp.status_code == 200, resp.text
    btc = {row["level"]["name"]: row for row in resp.json()}
    assert btc.keys() == usd.keys()
    for row in btc.values():
        price_usd = Decimal(str(row["level"]["price_usd"]))
        assert row["currency"] == "BTC"
        assert Decimal(str(row["rate"])) == Decimal(1) / Decimal(40000)  # USD->BTC via the inverse of BTCUSDT
        assert Decimal(str(row["price"])) == price_usd / Decimal(40000)
        assert datetime.fromisoformat(row["quoted_at"]) >= before.replace(microsecond=0)
    assert Decimal(str(btc["Pro-Tier"]["price"])) == Decimal("0.00024975")  # 9.99 USD at 40,000 USDT/BTC


async def test_unknown_currency_is_422_naming_currency(api_url):
    async with httpx.AsyncClient(base_url=api_url, timeout=15) as client:
        resp = await client.get("/subscriptions", params={"currency": "NOSUCHCOIN"})
    assert resp.status_code == 422 and "currency" in resp.json()["detail"]


async def test_soap_service_down_is_503_with_a_clear_message(api_url, own_soap_server, fake_binance):
    fake_binance.prices["ETHUSDT"] = "2000"
    stop_soap_server(own_soap_server)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        resp = await client.get("/subscriptions", params={"currency": "ETH"})
        usd = await client.get("/subscriptions")
    assert resp.status_code == 503
    assert "conversion unavailable" in resp.json()["detail"]
    assert usd.status_code == 200  # USD prices need no SOAP service
