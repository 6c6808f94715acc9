"""Shared test infrastructure: a database and Redis key prefix of this run's own.

The environment is set here, at import, before any test module imports a
Housify table: piccolo binds tables to ``PICCOLO_CONF``'s engine at import
time. Each run creates the PostgreSQL database ``housify_test_<hex>`` on the
local server (trust auth) before its first test, uses the Redis key prefix
``housify-test-<hex>:``, and removes both at the end. Nothing contacts a server
at import, so an area that needs neither (``tests/nix``) collects and runs
alone: its conftest overrides ``_scratch_database`` with a no-op.

Override the servers with ``HOUSIFY_TEST_PG_ADMIN_URL`` (a database the test
user may ``CREATE DATABASE`` from) and ``HOUSIFY_TEST_REDIS_URL``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from testkit import ScratchStores, SmtpServer, free_port

PG_ADMIN_URL = os.environ.get("HOUSIFY_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HOUSIFY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
STORES = ScratchStores("test", PG_ADMIN_URL, REDIS_URL)
_created: list[bool] = []  # set once the database exists
DB_URL = STORES.database_url
REDIS_PREFIX = STORES.redis_prefix

os.environ["PICCOLO_CONF"] = "housify.piccolo_conf"
os.environ["HOUSIFY_DATABASE_URL"] = DB_URL
os.environ["HOUSIFY_REDIS_URL"] = REDIS_URL
os.environ["HOUSIFY_REDIS_PREFIX"] = REDIS_PREFIX
# Tests sign up hundreds of accounts from 127.0.0.1; the per-client limit has its own test (tests/api).
os.environ.setdefault("HOUSIFY_SIGNUP_MAX_PER_HOUR", "100000")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop this run's database and delete its Redis keys (when a test made them)."""
    if _created:
        STORES.drop()


@pytest.fixture(scope="session", autouse=True)
def _scratch_database() -> None:
    """Create this run's database once, before every other session fixture of the first test needing it."""
    STORES.create()
    _created.append(True)


@pytest.fixture(scope="session")
def database_url() -> str:
    """URL of this run's PostgreSQL database (empty until ``migrated_db`` runs)."""
    return DB_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return REDIS_PREFIX


@pytest.fixture(scope="session")
async def migrated_db() -> str:
    """Apply all three services' migrations to this run's database once; returns its URL."""
    from housify_common.db import migrate_all

    await migrate_all()
    return DB_URL


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller

    server = SmtpServer(host="127.0.0.1", port=free_port())
    controller = Controller(server, hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[object]:
    """A real Redis client (bytes responses) on the test server."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()
