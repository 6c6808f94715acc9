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

from apikit import PASSWORD, bearer, unique_email
from testkit import free_port

from .tcp_proxy import TcpProxy


async def _until(check, within: float = 15.0):  # noqa: ANN001, ANN202
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.1)


class Server:
    """``housify-api serve`` in its own process, reaching PostgreSQL and Redis through cuttable proxies."""

    def __init__(self, database_url: str, redis_url: str, tmp_path) -> None:  # noqa: ANN001
        pg, rd = urlsplit(database_url), urlsplit(redis_url)
        self.pg_proxy = TcpProxy(free_port(), pg.hostname, pg.port or 5432)
        self.redis_proxy = TcpProxy(free_port(), rd.hostname, rd.port or 6379)
        self.port = free_port()
        self.env = {
            **os.environ,
            "HOUSIFY_DATABASE_URL": f"postgresql://{pg.username}@127.0.0.1:{self.pg_proxy.listen_port}{pg.path}",
            "HOUSIFY_REDIS_URL": f"redis://127.0.0.1:{self.redis_proxy.listen_port}/0",
            "HOUSIFY_DATA_DIR": str(tmp_path),
            "HOUSIFY_REDIS_PREFIX": os.environ.get("HOUSIFY_REDIS_PREFIX", "housify-test:")
            + f"api-outage-{self.port}:",
        }
        self.log_path = tmp_path / "server.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "housify_api.cli", "serve", "--port", str(self.port), "--no-access-log"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait, 15)
        await self.pg_proxy.stop()
        await self.redis_proxy.stop()

    def log(self) -> str:
        return self.log_path.read_text()


async def _answers(client: httpx.AsyncClient) -> bool:
    try:
        await client.get("/health")
    except httpx.TransportError:
        return False
    return True


async def test_database_and_redis_outages(migrated_db, database_url, redis_url, tmp_path):
    server = Server(database_url, redis_url, tmp_path)
    await server.pg_proxy.start()
    await server.redis_proxy.start()
    server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client:
            assert await _until(lambda: _status(client, "/ready", {}, 200), 30), server.log()
            email = unique_email("outage")
            assert (await client.post("/auth/register", json={"email": email, "password": PASSWORD})).status_code == 201
            tokens = (await client.post("/auth/token", data={"username": email, "password": PASSWORD})).json()
            auth = bearer(tokens)
            assert (await client.get("/users/me", headers=auth)).status_code == 200

            await server.pg_proxy.stop()
            down = await client.get("/users/me", headers=auth)
            assert down.status_code == 503 and down.json()["detail"].startswith("database unavailable"), down.text
            assert (await client.get("/users/me", headers=auth)).status_code == 503  # reconnect attempt refused
            ready = await client.get("/ready")
            assert (
                ready.status_code == 503
                and ready.json()["database"].startswith("unavailable")
                and ready.json()["redis"] == "ok"
            )

            await server.pg_proxy.start()
            assert await _until(lambda: _status(client, "/users/me", auth, 200)), server.log()[-3000:]

            await server.redis_proxy.stop()
            down = await client.get("/users/me", headers=auth)
            assert down.status_code == 503 and down.json()["detail"].startswith("Redis unavailable"), down.text
            login = await client.post("/auth/token", data={"username": email, "password": PASSWORD})
            assert login.status_code == 503

            await server.redis_proxy.start()
            assert await _until(lambda: _status(client, "/users/me", auth, 200)), server.log()[-3000:]
            assert (await client.get("/ready")).status_code == 200
    finally:
        await server.stop()
    text = server.log()
    assert "database unavailable during GET /users/me" in text and "Redis unavailable during GET /users/me" in text


async def test_starts_while_the_database_is_down_and_recovers(migrated_db, database_url, redis_url, tmp_path):
    server = Server(database_url, redis_url, tmp_path)
    await server.redis_proxy.start()
    server.start()  # PostgreSQL unreachable from the start
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client:
            assert await _until(lambda: _answers(client), 30), server.log()
            assert (await client.get("/ready")).status_code == 503
            levels = await client.get("/subscriptions")
            assert levels.status_code == 503 and "database unavailable" in levels.json()["detail"]
            await server.pg_proxy.start()
            assert await _until(lambda: _status(client, "/subscriptions", {}, 200), 20), server.log()[-3000:]
            assert (await client.get("/ready")).status_code == 200
    finally:
        await server.stop()
    assert "PostgreSQL connection pool not started" in server.log()


async def _status(client: httpx.AsyncClient, path: str, headers: dict, expected: int) -> bool:
    try:
        return (await client.get(path, headers=headers)).status_code == expected
    except httpx.TransportError:  # not listening yet
        return False
