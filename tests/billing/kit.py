"""Helpers of the billing tests: the stored level, requests that survive a level change, checkout, mails."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from apikit import User, bearer, login


async def level_of(http: httpx.AsyncClient, user: User) -> str:
    """The user's level as stored now."""
    from housify_api.tables import User as Row

    row = await Row.select(Row.subscription_level).where(Row.id == user.id).first()
    assert row is not None
    return row["subscription_level"]


async def as_user(http: httpx.AsyncClient, user: User, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request with the user's access token; logged in again once when a level change ended the token
    (access tokens carry the level, so every change revokes them)."""
    response = await http.request(method, url, headers=user.headers, **kwargs)
    if response.status_code == 401 and "refresh" in response.text:
        user.headers = bearer(await login(http, user.email, ip="10.200.0.1"))
        response = await http.request(method, url, headers=user.headers, **kwargs)
    return response


async def mail(smtp_server: Any, address: str, subject: str, timeout: float = 5.0) -> Any:
    """The first mail to ``address`` whose subject contains ``subject`` (waits for it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = [m for m in smtp_server.to(address) if subject in m["Subject"]]
        if found:
            return found[0]
        assert asyncio.get_running_loop().time() < deadline, f"no mail {subject!r} to {address}"
        await asyncio.sleep(0.02)


async def checkout(http: httpx.AsyncClient, user: User, level: str = "Pro-Tier") -> dict[str, Any]:
    response = await as_user(http, user, "PUT", "/users/me/subscription", json={"subscription_level": level})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "checkout" and body["order"]["state"] == "pending", body
    return body["order"]
