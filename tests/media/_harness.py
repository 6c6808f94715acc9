"""Test harness shared by tests/media and tests/e2e: the API over real HTTP, users, pictures.

The API runs under ``testkit.AsgiServer`` (uvicorn on a loopback port inside
the test session's event loop); ``Accounts`` makes users (through the accounts
service) and logs them in through ``POST /auth/token`` like any client.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
from PIL import Image

PASSWORD = "correct-horse-battery-staple-42"


@dataclass
class User:
    id: UUID
    email: str
    token: str
    role: str = "user"
    level: str = "Free-Tier"
    headers: dict[str, str] = field(default_factory=dict)


class Accounts:
    """Creates users in the app's database and logs them in over HTTP."""

    def __init__(self, app: Any, http: httpx.AsyncClient) -> None:
        self.app = app
        self.http = http

    async def user(self, *, level: str = "Free-Tier", role: str = "user", services: str | None = None) -> User:
        from housify_api.auth.service import AuthService
        from housify_api.tables import User as UserRow

        email = f"{role}-{secrets.token_hex(5)}@example.com"
        user_id = await AuthService(self.app.state).create_user(email, PASSWORD, role=role, verified=True)
        values: dict[Any, Any] = {UserRow.subscription_level: level}
        if services is not None:
            values[UserRow.services] = services
        await UserRow.update(values).where(UserRow.id == user_id)
        token = await self.login(email)
        return User(id=user_id, email=email, token=token, role=role, level=level,
                    headers={"Authorization": f"Bearer {token}"})

    async def login(self, email: str) -> str:
        response = await self.http.post("/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]


def picture(width: int = 96, height: int = 64, fmt: str = "PNG", color: tuple[int, int, int] = (180, 90, 30)) -> bytes:
    """A small image file of ``fmt`` with some structure (so JPEG/WebP are not trivially tiny)."""
    image = Image.new("RGB", (width, height), color)
    for x in range(0, width, 8):
        image.putpixel((x, x % height), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


async def upload(http: httpx.AsyncClient, user: User, data: bytes | None = None, *, title: str = "", public: bool = False,
                 filename: str = "room.png") -> httpx.Response:
    files = {"file": (filename, data if data is not None else picture(), "application/octet-stream")}
    return await http.post("/images/uploads", files=files, data={"title": title, "public": str(public).lower()},
                           headers=user.headers)
