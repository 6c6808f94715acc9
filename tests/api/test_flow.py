"""The newcomer's path over real HTTP: register, log in with a FastAPI client's OAuth2 form body, /users/me, refresh, log out."""

from __future__ import annotations

import base64
import json

from apikit import PASSWORD, bearer, login, register, unique_email, unique_ip


def _header(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


async def test_register_login_refresh_logout(client, smtp_server):
    email = unique_email("flow")
    created = await client.post("/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Ada"})
    assert created.status_code == 201
    assert created.json()["role"] == "user" and created.json()["subscription_level"] == "Free-Tier"
    assert "password" not in created.text and "hash" not in created.text

    # The body FastAPI's OAuth2PasswordRequestForm clients send (empty grant_type, scope, client_id, client_secret).
    form = f"grant_type=&username={email.replace('@', '%40')}&password={PASSWORD}&scope=&client_id=&client_secret="
    response = await client.post(
        "/auth/token",
        content=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "accept": "application/json",
            "X-Forwarded-For": unique_ip(),
        },
    )
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert (
        tokens["token_type"] == "bearer"
        and tokens["expires_in"] == 300
        and tokens["refresh_expires_in"] == 7 * 24 * 3600
    )
    header = _header(tokens["access_token"])
    assert header["alg"] == "ES512"
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert all(key["crv"] == "P-521" and "d" not in key for key in jwks["keys"])

    me = await client.get("/users/me", headers=bearer(tokens))
    assert me.status_code == 200 and me.json()["email"] == email and me.json()["full_name"] == "Ada"

    refreshed = await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert (await client.get("/users/me", headers=bearer(new))).status_code == 200

    out = await client.post("/auth/logout", headers=bearer(new))
    assert out.status_code == 200
    refused = await client.get("/users/me", headers=bearer(new))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    # The session's other access token and its refresh token are dead too.
    assert (await client.get("/users/me", headers=bearer(tokens))).status_code == 401
    again = await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": new["refresh_token"]}
    )
    assert again.status_code == 401 and "revoked" in again.json()["detail"]


async def test_refresh_reuse_revokes_the_family(client, user):
    first = user["tokens"]
    second = (
        await client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    ).json()
    # An attacker replays the already-rotated first refresh token.
    replay = await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert replay.status_code == 401 and "reuse" in replay.json()["detail"]
    # The legitimate holder's tokens of that family stop as well.
    assert (
        await client.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]})
    ).status_code == 401
    me = await client.get("/users/me", headers=bearer(second))
    assert me.status_code == 401 and "session ended" in me.json()["detail"]


async def test_logout_all_ends_every_session(client, user):
    other = await login(client, user["email"])
    response = await client.post("/auth/logout-all", headers=bearer(user["tokens"]))
    assert response.status_code == 200 and "2 session" in response.json()["message"]
    for tokens in (user["tokens"], other):
        assert (await client.get("/users/me", headers=bearer(tokens))).status_code == 401
        assert (
            await client.post(
                "/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
            )
        ).status_code == 401


async def test_login_from_new_device_sends_a_notice(client, smtp_server):
    email = await register(client)
    await smtp_server.wait_for(email)  # the verification mail
    await login(client, email, ip="10.1.2.3", user_agent="Firefox/130")
    mails = await smtp_server.wait_for(email, count=2)
    notice = mails[-1]
    assert notice["Subject"] == "New sign-in to your Housify account"
    body = notice.get_payload(decode=True).decode()
    assert "10.1.2.3" in body and "Firefox/130" in body
    await login(client, email, ip="10.1.2.3", user_agent="Firefox/130")  # same device: no new notice
    await login(client, email, ip="10.1.2.3", user_agent="Chrome/120")  # new user agent: notice
    await smtp_server.wait_for(email, count=3)
    import asyncio

    await asyncio.sleep(0.3)
    assert len(smtp_server.to(email)) == 3


async def test_registration_mail_survives_a_dead_smtp_server(api, client):
    """Sending never blocks or fails the request: point the mailer at a closed port and register."""
    import dataclasses

    import msgspec

    from housify_api.email import Mailer
    from testkit import free_port

    state = api.app.state
    original = state.services
    dead = Mailer(msgspec.structs.replace(original.settings, smtp_host="127.0.0.1", smtp_port=free_port()))
    state.services = dataclasses.replace(original, auth=dataclasses.replace(original.auth, mailer=dead))
    try:
        response = await client.post("/auth/register", json={"email": unique_email("nosmtp"), "password": PASSWORD})
        assert response.status_code == 201
    finally:
        await dead.aclose()
        state.services = original
