"""What a client on ``wan`` does: sign up, log in, upload, start jobs, follow them over the WebSocket.

Everything goes through nginx on the edge's WAN address over HTTPS (the test
CA), as a phone or browser on the Internet would.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .netns import EDGE_WAN
from .stack import SERVER_NAME, Topology

PASSWORD = "topology-walk-password-7"
SMALL = {"width": 64, "height": 64, "steps": 4}


@dataclass
class User:
    email: str
    token: str
    id: str
    headers: dict[str, str] = field(default_factory=dict)


def photo(width: int = 64, height: int = 64, fmt: str = "PNG") -> bytes:
    """A small picture with some structure."""
    image = Image.new("RGB", (width, height), (180, 90, 30))
    for x in range(0, width, 4):
        image.putpixel((x, x % height), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


async def sign_up(http: httpx.AsyncClient, *, level: str | None = None, db: Any = None) -> User:
    """Register, log in (OAuth2 password grant) and optionally put the account on ``level``; asserts each step.

    A paid level needs a settled invoice or an admin's grant (docs/billing.md); the topology has
    neither a payment provider nor an admin, so ``level`` is written through ``db`` (an asyncpg
    connection to the API's database), as a grant would."""
    email = f"walk-{secrets.token_hex(6)}@example.com"
    registered = await http.post("/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201, registered.text
    token = await log_in(http, email)
    headers = {"Authorization": f"Bearer {token}"}
    me = await http.get("/users/me", headers=headers)
    assert me.status_code == 200, me.text
    if level:
        await db.execute("UPDATE users SET subscription_level = $1 WHERE email = $2", level, email)
        token = await log_in(http, email)  # access tokens carry the level
        headers = {"Authorization": f"Bearer {token}"}
    return User(email=email, token=token, id=me.json()["id"], headers=headers)


async def log_in(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post("/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def upload(
    http: httpx.AsyncClient, user: User, data: bytes, *, title: str = "", public: bool = False
) -> httpx.Response:
    files = {"file": ("room.png", data, "application/octet-stream")}
    return await http.post(
        "/images/uploads", files=files, data={"title": title, "public": str(public).lower()}, headers=user.headers
    )


async def events(topo: Topology, job_id: str, user: User, *, timeout: float = 120.0) -> list[dict[str, Any]]:
    """A job's events from ``wss://<edge>/jobs/{id}/events`` through nginx, until the server closes (token as subprotocol)."""
    sock = await topo.net.wan.open_connection(EDGE_WAN, 443, timeout=10)
    tls = topo.pki.client_context()
    tls.set_alpn_protocols(["http/1.1"])  # RFC 6455 upgrade is an HTTP/1.1 mechanism
    received: list[dict[str, Any]] = []
    async with connect(
        f"wss://{SERVER_NAME}/jobs/{job_id}/events",
        sock=sock,
        ssl=tls,
        server_hostname=SERVER_NAME,
        subprotocols=["bearer", user.token],
        open_timeout=30,
    ) as ws:
        try:
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), timeout=timeout))
                received.append(event)
        except ConnectionClosed:
            assert ws.close_code == 1000, (ws.close_code, ws.close_reason)
    return received


def tls_context(topo: Topology) -> ssl.SSLContext:
    return topo.pki.client_context()
