"""Billing fixtures: housify-api connected to the Greenfield stand-in, both over real HTTP on loopback.

The app's billing sweep runs once at start-up and then hourly (``HOUSIFY_BILLING_SWEEP_SECONDS``),
so tests call ``billing.sweep()`` themselves, with the clock of the ``clock`` fixture.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from apikit import SUPERUSER_EMAIL, SUPERUSER_PASSWORD, Accounts, login
from billing.standin import GreenfieldStandIn
from testkit import AsgiServer


@dataclass
class Clock:
    """A UTC clock the test moves: ``clock.now``; ``clock.advance(days=30)``."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class BillingApi:
    base_url: str
    app: Any
    standin: GreenfieldStandIn

    @property
    def billing(self) -> Any:
        return self.app.state.services.billing

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=15.0)


@pytest.fixture(scope="session")
async def standin() -> AsyncIterator[GreenfieldStandIn]:
    stand_in = GreenfieldStandIn()
    server = await AsgiServer(stand_in.app()).start()
    stand_in.base_url = server.base_url
    yield stand_in
    await server.stop()


def _settings(tmp: Path, smtp_server: Any, prefix: str, **more: Any) -> Any:
    from housify_api.settings import load_api_settings

    return load_api_settings(
        redis_prefix=prefix,
        data_dir=str(tmp),
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        superuser_email=SUPERUSER_EMAIL,
        superuser_password=SUPERUSER_PASSWORD,
        public_url="http://testserver",
        billing_sweep_seconds=3600,
        billing_quote_currency="",
        **more,
    )


async def _serve(app: Any) -> AsgiServer:
    server = await AsgiServer(app, proxy_headers=True, forwarded_allow_ips="127.0.0.1").start()
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        for _ in range(250):  # start-up seeding runs in the background
            response = await client.post(
                "/auth/token", data={"username": SUPERUSER_EMAIL, "password": SUPERUSER_PASSWORD}
            )
            if response.status_code == 200:
                break
            await asyncio.sleep(0.02)
    return server


@pytest.fixture(scope="session")
async def billing_api(
    migrated_db: str,
    standin: GreenfieldStandIn,
    smtp_server: Any,
    redis_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[BillingApi]:
    from housify_api.app import create_app

    settings = _settings(
        tmp_path_factory.mktemp("billing-data"),
        smtp_server,
        f"{redis_prefix}billing:",
        btcpay_url=standin.base_url,
        btcpay_store_id=standin.store_id,
        btcpay_api_key=standin.api_key,
        btcpay_webhook_secret=standin.webhook_secret,
    )
    app = create_app(settings)
    server = await _serve(app)
    standin.webhook_url = f"{server.base_url}/billing/btcpay/webhook"
    yield BillingApi(base_url=server.base_url, app=app, standin=standin)
    await server.stop()


@pytest.fixture(scope="session")
async def unpaid_api(
    migrated_db: str, smtp_server: Any, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Any]:
    """The app with payments off (no BTCPay store configured)."""
    from housify_api.app import create_app

    app = create_app(_settings(tmp_path_factory.mktemp("unpaid-data"), smtp_server, f"{redis_prefix}unpaid:"))
    server = await _serve(app)
    yield server
    await server.stop()


@pytest.fixture
async def http(billing_api: BillingApi) -> AsyncIterator[httpx.AsyncClient]:
    async with billing_api.client() as client:
        yield client


@pytest.fixture
async def accounts(billing_api: BillingApi, http: httpx.AsyncClient) -> Accounts:
    return Accounts(billing_api.app, http)


@pytest.fixture
async def admin(http: httpx.AsyncClient) -> dict[str, str]:
    tokens = await login(http, SUPERUSER_EMAIL, SUPERUSER_PASSWORD)
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def clock(billing_api: BillingApi) -> Iterator[Clock]:
    """The billing service's clock, frozen at a whole second now and moved by the test."""
    from housify_api.billing.service import utc_now

    controlled = Clock(datetime.now(UTC).replace(microsecond=0))
    billing_api.billing.clock = controlled
    billing_api.standin.clock = lambda: controlled.now.timestamp()
    yield controlled
    billing_api.billing.clock = utc_now
    billing_api.standin.clock = time.time
