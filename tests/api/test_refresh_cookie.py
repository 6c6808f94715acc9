"""Cookie mode of the refresh grant (housify_api.auth.cookie): the web app's refresh token never reaches script."""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx

from apikit import PASSWORD, bearer, login, register, unique_ip

COOKIE_MODE = {"X-Refresh-Cookie": "1"}


def refresh_cookie(response: httpx.Response) -> tuple[str, str]:
    """(value, the whole Set-Cookie line) of ``housify_refresh``."""
    for line in response.headers.get_list("set-cookie"):
        jar = SimpleCookie(line)
        if "housify_refresh" in jar:
            return jar["housify_refresh"].value, line
    raise AssertionError(f"no housify_refresh cookie in {response.headers.get_list('set-cookie')}")


async def cookie_login(client: httpx.AsyncClient, email: str) -> httpx.Response:
    response = await client.post(
        "/auth/token",
        data={"username": email, "password": PASSWORD},
        headers={**COOKIE_MODE, "X-Forwarded-For": unique_ip()},
    )
    assert response.status_code == 200, response.text
    return response


async def test_cookie_mode_login_sets_httponly_strict_cookie_and_hides_the_token(client: httpx.AsyncClient) -> None:
    response = await cookie_login(client, await register(client))
    body = response.json()
    assert body["refresh_token"] == "" and body["access_token"]
    value, line = refresh_cookie(response)
    assert value.count(".") == 2  # a JWT
    attributes = {part.strip().lower() for part in line.split(";")}
    assert {"httponly", "secure", "samesite=strict", "path=/auth/token"} <= attributes
    assert response.headers["cache-control"] == "no-store"
    assert (await client.get("/auth/whoami", headers=bearer(body))).status_code == 200


async def test_cookie_refresh_rotates_and_needs_the_custom_header(client: httpx.AsyncClient) -> None:
    first, _ = refresh_cookie(await cookie_login(client, await register(client)))
    # CSRF: the cookie alone (what a cross-site form post would carry) is not accepted.
    forged = await client.post(
        "/auth/token", data={"grant_type": "refresh_token"}, headers={"Cookie": f"housify_refresh={first}"}
    )
    assert forged.status_code == 400, forged.text
    assert "refresh_token" in forged.json()["detail"]
    rotated = await client.post(
        "/auth/token",
        data={"grant_type": "refresh_token"},
        headers={**COOKIE_MODE, "Cookie": f"housify_refresh={first}"},
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["refresh_token"] == ""
    second, _ = refresh_cookie(rotated)
    assert second != first
    # The old cookie is now a reused refresh token: refused (and the session ends, as in JSON mode).
    reused = await client.post(
        "/auth/token",
        data={"grant_type": "refresh_token"},
        headers={**COOKIE_MODE, "Cookie": f"housify_refresh={first}"},
    )
    assert reused.status_code == 401


async def test_logout_clears_the_cookie_and_json_mode_is_unchanged(client: httpx.AsyncClient) -> None:
    email = await register(client)
    tokens = await login(client, email)
    assert tokens["refresh_token"]  # JSON mode: the body holds it, no cookie
    response = await cookie_login(client, email)
    out = await client.post("/auth/logout", headers=bearer(response.json()))
    assert out.status_code == 200
    value, line = refresh_cookie(out)
    assert value == "" and "max-age=0" in line.lower()
