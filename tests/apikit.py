"""Client-side helpers for tests of housify-api (tests/api, tests/media, tests/e2e), in one place.

Importable as ``apikit`` (``pythonpath = ["tests"]``). A test talks to the API
over real HTTP like any client: it registers or creates users, logs them in
through ``POST /auth/token`` and sends their access token; pictures are small
real image files.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
from PIL import Image

SUPERUSER_EMAIL = "root@example.com"
SUPERUSER_PASSWORD = "tall-giraffe-orbit-42"
#: A password every rule accepts (docs/authentication.md).
PASSWORD = "violet-harbor-seventeen"


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{secrets.token_hex(4)}@example.com"


def unique_ip() -> str:
    """A client address of its own (sent as X-Forwarded-For) so per-IP login limits do not leak between tests."""
    return "10.{}.{}.{}".format(*secrets.token_bytes(3))


def bearer(tokens: dict | str) -> dict[str, str]:
    """``Authorization`` header for an access token or a token response."""
    token = tokens if isinstance(tokens, str) else tokens["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: httpx.AsyncClient, email: str | None = None, password: str = PASSWORD, **profile: Any
) -> str:
    """``POST /auth/register`` (201 asserted); returns the address."""
    email = email or unique_email()
    response = await client.post("/auth/register", json={"email": email, "password": password, **profile})
    assert response.status_code == 201, response.text
    return email


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, ip: str | None = None, user_agent: str = "pytest"
) -> dict:
    """``POST /auth/token`` with the password grant (200 asserted); returns the token response."""
    response = await client.post(
        "/auth/token",
        data={"grant_type": "password", "username": email, "password": password},
        headers={"X-Forwarded-For": ip or unique_ip(), "User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class User:
    """A logged-in test user; ``headers`` carry its access token."""

    id: UUID
    email: str
    token: str
    role: str = "user"
    level: str = "Free-Tier"
    headers: dict[str, str] = field(default_factory=dict)


class Accounts:
    """Creates users through the app's own ``AuthService`` (any role, level or service set) and logs them in over HTTP."""

    def __init__(self, app: Any, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http

    async def user(self, *, level: str = "Free-Tier", role: str = "user", services: str | None = None) -> User:
        from housify_api.tables import User as UserRow

        email = unique_email(role)
        user_id = await self.app.state.services.auth.create_user(email, PASSWORD, role=role, verified=True)
        values: dict[Any, Any] = {UserRow.subscription_level: level}
        if services is not None:
            values[UserRow.services] = services
        await UserRow.update(values).where(UserRow.id == user_id)
        token = (await login(self.http, email))["access_token"]
        return User(id=user_id, email=email, token=token, role=role, level=level, headers=bearer(token))


def picture(width: int = 96, height: int = 64, fmt: str = "PNG", color: tuple[int, int, int] = (180, 90, 30)) -> bytes:
    """A small image file of ``fmt`` with some structure (so JPEG/WebP are not trivially tiny)."""
    image = Image.new("RGB", (width, height), color)
    for x in range(0, width, 8):
        image.putpixel((x, x % height), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


async def upload(
    http: httpx.AsyncClient,
    user: User,
    data: bytes | None = None,
    *,
    title: str = "",
    public: bool = False,
    filename: str = "room.png",
) -> httpx.Response:
    """``POST /images/uploads`` as ``user`` (multipart ``file``, ``title``, ``public``)."""
    files = {"file": (filename, data if data is not None else picture(), "application/octet-stream")}
    return await http.post(
        "/images/uploads", files=files, data={"title": title, "public": str(public).lower()}, headers=user.headers
    )
