"""housify-api test fixtures: the app served by uvicorn over real HTTP on loopback.

The server runs as a task on the session's event loop (pytest-asyncio: one
session loop), so tests may also call service functions directly (they share
the piccolo pool). PostgreSQL and Redis are the run's own (``tests/conftest.py``);
mails go to the ``smtp_server`` fixture. Client helpers (register, login,
bearer, ...) are in ``tests/apikit.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from apikit import SUPERUSER_EMAIL, SUPERUSER_PASSWORD, login, register
from testkit import AsgiServer


@dataclass
class Api:
    base_url: str
    app: object  # litestar.Litestar

    def client(self, **kwargs: object) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=15.0, **kwargs)


@pytest.fixture(scope="session")
def api_settings(
    tmp_path_factory: pytest.TempPathFactory, smtp_server, redis_url: str, redis_prefix: str, database_url: str
):  # noqa: ANN001, ANN201
    from housify_api.settings import load_api_settings

    data_dir: Path = tmp_path_factory.mktemp("api-data")
    return load_api_settings(
        # A sub-prefix of the run's: this app's media plugin joins job-stream consumer groups,
        # which must not take results meant for other areas' apps running in the same test run.
        redis_prefix=f"{redis_prefix}api:",
        data_dir=str(data_dir),
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        superuser_email=SUPERUSER_EMAIL,
        superuser_password=SUPERUSER_PASSWORD,
        public_url="http://testserver",
    )


@pytest.fixture(scope="session")
async def api(migrated_db: str, api_settings) -> AsyncIterator[Api]:  # noqa: ANN001
    from housify_api.app import create_app

    app = create_app(api_settings)
    server = await AsgiServer(app, proxy_headers=True, forwarded_allow_ips="127.0.0.1").start()
    api = Api(base_url=server.base_url, app=app)
    # Start-up seeding runs in the background; wait until the superuser can log in.
    async with api.client() as client:
        for _ in range(250):
            if (
                await client.post(
                    "/auth/token",
                    data={"username": SUPERUSER_EMAIL, "password": SUPERUSER_PASSWORD},
                    headers={"X-Forwarded-For": "10.255.255.1"},
                )
            ).status_code == 200:
                break
            await asyncio.sleep(0.02)
    yield api
    await server.stop()


@pytest.fixture
async def client(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with api.client() as c:
        yield c


@pytest.fixture
async def user(client: httpx.AsyncClient) -> dict:
    """A fresh registered and logged-in user: ``{"email", "tokens"}``."""
    email = await register(client)
    return {"email": email, "tokens": await login(client, email)}


@pytest.fixture
async def admin_tokens(client: httpx.AsyncClient) -> dict:
    return await login(client, SUPERUSER_EMAIL, SUPERUSER_PASSWORD)
