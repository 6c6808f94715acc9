"""PostgreSQL or Redis down -> 503 with a log line; the service recovers by itself when they come back.

A separate ``housify-api serve`` process reaches PostgreSQL and Redis through
loopback proxies that the test cuts and restores.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from urllib.parse import urlsplit

import httpx

from tests.api.conftest import PASSWORD, bearer, free_port, unique_email
from tests.api.tcp_proxy import TcpProxy


async def _until(check, timeout: float = 15.0):  # noqa: ANN001, ANN202
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_database_and_redis_outages(migrated_db, database_url, redis_url, tmp_path):
    pg, rd = urlsplit(database_url), urlsplit(redis_url)
    pg_proxy = TcpProxy(free_port(), pg.hostname, pg.port or 5432)
    redis_proxy = TcpProxy(free_port(), rd.hostname, rd.port or 6379)
    await pg_proxy.start()
    await redis_proxy.start()
    port = free_port()
    env = {
        **os.environ,
        "HOUSIFY_DATABASE_URL": f"postgresql://{pg.username}@127.0.0.1:{pg_proxy.listen_port}{pg.path}",
        "HOUSIFY_REDIS_URL": f"redis://127.0.0.1:{redis_proxy.listen_port}/0",
        "HOUSIFY_DATA_DIR": str(tmp_path),
    }
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "housify_api.cli", "serve", "--port", str(port), "--no-access-log"],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            async def up() -> bool:
                try:
                    return (await client.get("/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            assert await _until(up, 30), log_path.read_text()
            email = unique_email("outage")
            assert (await client.post("/auth/register", json={"email": email, "password": PASSWORD})).status_code == 201
            tokens = (await client.post("/auth/token", data={"username": email, "password": PASSWORD})).json()
            auth = bearer(tokens)
            assert (await client.get("/users/me", headers=auth)).status_code == 200

            await pg_proxy.stop()
            down = await client.get("/users/me", headers=auth)
            assert down.status_code == 503 and down.json()["detail"].startswith("database unavailable"), down.text
            assert (await client.get("/users/me", headers=auth)).status_code == 503  # reconnect attempt refused
            ready = await client.get("/ready")
            assert ready.status_code == 503 and ready.json()["database"].startswith("unavailable") and ready.json()["redis"] == "ok"

            await pg_proxy.start()
            assert await _until(lambda: _status(client, "/users/me", auth, 200)), log_path.read_text()[-3000:]

            await redis_proxy.stop()
            down = await client.get("/users/me", headers=auth)
            assert down.status_code == 503 and down.json()["detail"].startswith("Redis unavailable"), down.text
            login = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
            assert login.status_code == 503

            await redis_proxy.start()
            assert await _until(lambda: _status(client, "/users/me", auth, 200)), log_path.read_text()[-3000:]
            assert (await client.get("/ready")).status_code == 200
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 15)
        await pg_proxy.stop()
        await redis_proxy.stop()
    text = log_path.read_text()
    assert "database unavailable during GET /users/me" in text and "Redis unavailable during GET /users/me" in text


async def _status(client: httpx.AsyncClient, path: str, headers: dict, expected: int) -> bool:
    return (await client.get(path, headers=headers)).status_code == expected
