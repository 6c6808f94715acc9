"""An API server (real HTTP, PostgreSQL, Redis) without AI workers, for the media routes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from apikit import Accounts
from testkit import AsgiServer, free_port

# the tests rate pictures and read the front page at once: no reuse window
os.environ.setdefault("HOUSIFY_MEDIA_FEATURED_CACHE_SECONDS", "0")


@pytest.fixture(scope="session")
async def media_server(migrated_db: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsgiServer]:
    from housify_api.app import create_app
    from housify_api.settings import load_api_settings

    data_dir: Path = tmp_path_factory.mktemp("media-api")
    # HOUSIFY_AI_URL points at a closed port: no AI server here, so assist must answer 503
    settings = load_api_settings(
        data_dir=str(data_dir), storage_dir=str(data_dir / "storage"), ai_url=f"http://127.0.0.1:{free_port()}"
    )
    server = AsgiServer(create_app(settings))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="session")
async def http(media_server: AsgiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=media_server.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def accounts(media_server: AsgiServer, http: httpx.AsyncClient) -> Accounts:
    return Accounts(media_server.app, http)
