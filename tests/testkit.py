"""Helpers the test areas share: free ports, a loopback SMTP server, an ASGI app on uvicorn.

Importable as ``testkit`` from any test module (``pythonpath = ["tests"]`` in
pyproject.toml); conftest modules are never imported by name, since every
area has one.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SmtpServer:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    host: str
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        msg = message_from_bytes(envelope.original_content or envelope.content)
        msg["X-Rcpt-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in (m["X-Rcpt-To"] or "")]

    async def wait_for(self, address: str, count: int = 1, timeout: float = 5.0) -> list[Message]:
        """Wait until ``count`` messages reached ``address``; raises ``TimeoutError``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.to(address)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{count} message(s) to {address} not received in {timeout}s")
            await asyncio.sleep(0.02)
        return self.to(address)


class AsgiServer:
    """An ASGI app served by uvicorn on 127.0.0.1 inside the test's event loop (HTTP and WebSocket).

    ``uvicorn_options`` pass through to ``uvicorn.Config`` (e.g. ``proxy_headers``).
    Use ``async with AsgiServer(app) as server:`` or ``start()``/``stop()``.
    """

    def __init__(self, app: Any, port: int | None = None, **uvicorn_options: Any) -> None:
        import uvicorn

        self.app = app
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        options = {"log_level": "warning", "lifespan": "on", **uvicorn_options}
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, **options))
        self._server.install_signal_handlers = lambda: None  # keep pytest's Ctrl-C
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 10.0) -> AsgiServer:
        """Serve in the background; raises what uvicorn raised, or ``TimeoutError``."""
        self._task = asyncio.create_task(self._server.serve())
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn stopped before it started")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("uvicorn did not start")
            await asyncio.sleep(0.01)
        return self

    async def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout)

    async def __aenter__(self) -> AsgiServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class ScratchStores:
    """A PostgreSQL database and a Redis key prefix of one run's own, removed afterwards.

    ``ScratchStores("test")`` names the database ``housify_test_<hex>`` (made on
    the server of ``pg_admin_url``, from a database the user may
    ``CREATE DATABASE`` in) and the prefix ``housify-test-<hex>:``. Used by the
    test suite and by the benchmarks, outside any running event loop.
    """

    def __init__(self, tag: str, pg_admin_url: str, redis_url: str) -> None:
        run = secrets.token_hex(4)
        self.pg_admin_url = pg_admin_url
        self.redis_url = redis_url
        self.db_name = f"housify_{tag}_{run}"
        self.database_url = pg_admin_url.rsplit("/", 1)[0] + "/" + self.db_name
        self.redis_prefix = f"housify-{tag}-{run}:"

    async def _admin(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.pg_admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create(self) -> ScratchStores:
        """Create the database; raises asyncpg's error when the server refuses."""
        asyncio.run(self._admin(f'CREATE DATABASE "{self.db_name}"'))
        return self

    def drop(self) -> None:
        """Delete the prefix's Redis keys (best effort: Redis may be down) and drop the database."""
        import redis

        try:
            client = redis.Redis.from_url(self.redis_url)
            keys = list(client.scan_iter(match=self.redis_prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
        except redis.RedisError:
            pass
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
