"""Issue 21 items 1, 11, 12: the account changes only with a bearer token and the password; an address
counts once verified; a reset or log-out-everywhere leaves no API key behind. Each test fails on 02e5a16."""

from __future__ import annotations

import re

import pytest

from apikit import PASSWORD, bearer, login, register, unique_email, unique_ip


def _token_from(mail) -> str:  # noqa: ANN001
    body = mail.get_payload(decode=True).decode()
    return re.search(r'"token": "([^"]+)"', body).group(1)


async def _api_key(client, tokens) -> str:  # noqa: ANN001
    created = await client.post("/users/me/api-keys", json={"name": "ci"}, headers=bearer(tokens))
    assert created.status_code == 201, created.text
    return created.json()["key"]


async def test_an_api_key_never_changes_the_account(client, user):
    """Item 1: on 02e5a16 ``PATCH /users/me`` with an API key moved the account to the attacker's address."""
    key = {"X-API-Key": await _api_key(client, user["tokens"])}
    attacker = unique_email("attacker")
    moved = await client.patch("/users/me", json={"email": attacker, "current_password": PASSWORD}, headers=key)
    assert moved.status_code == 403 and "bearer" in moved.json()["detail"]
    renamed = await client.patch("/users/me", json={"full_name": "Mallory"}, headers=key)
    assert renamed.status_code == 403
    for method, path, body in (
        ("PUT", "/users/me/password", {"current_password": PASSWORD, "new_password": "taken-over-password-1"}),
        ("POST", "/users/me/api-keys", {"name": "mine now"}),
        ("PUT", "/users/me/subscription", {"subscription_level": "Free-Tier"}),
        ("DELETE", "/users/me", None),
    ):
        answer = await client.request(method, path, json=body, headers=key)
        assert answer.status_code == 403, (method, path, answer.status_code, answer.text)
    me = (await client.get("/users/me", headers=key)).json()
    assert me["email"] == user["email"] and me["full_name"] != "Mallory"


async def test_address_change_needs_the_password_tells_the_old_address_and_counts_once_verified(
    client, user, smtp_server
):
    """Item 1: on 02e5a16 a stolen access token changed the address at once, silently, with no password."""
    auth = bearer(user["tokens"])
    new = unique_email("moved")
    bare = await client.patch("/users/me", json={"email": new}, headers=auth)
    assert bare.status_code == 400 and bare.json()["extra"][0]["key"] == "current_password"
    wrong = await client.patch("/users/me", json={"email": new, "current_password": "not-the-password"}, headers=auth)
    assert wrong.status_code == 400 and "current_password" in wrong.json()["detail"]

    asked = await client.patch("/users/me", json={"email": new, "current_password": PASSWORD}, headers=auth)
    assert asked.status_code == 200, asked.text
    assert asked.json()["email"] == user["email"]  # not yet: the new address is unverified
    notice = next(m for m in await smtp_server.wait_for(user["email"], count=3) if "being changed" in m["Subject"])
    assert new in notice.get_payload(decode=True).decode()
    link = (await smtp_server.wait_for(new))[0]

    # Until then the account answers to its old address only: a reset asked for the new one mails nothing.
    await client.post("/auth/password-reset", json={"email": new})
    await login(client, user["email"])
    assert (await client.post("/auth/verify-email", json={"token": _token_from(link)})).status_code == 200
    fresh = await login(client, new)
    me = (await client.get("/users/me", headers=bearer(fresh))).json()
    assert me["email"] == new and me["email_verified"] is True
    assert all("Reset" not in m["Subject"] for m in smtp_server.to(new))
    refused = await client.post("/auth/token", data={"username": user["email"], "password": PASSWORD})
    assert refused.status_code == 401


async def test_a_sign_up_verification_token_does_not_verify_a_later_address(client, user, smtp_server):
    """Item 11: on 02e5a16 the token mailed at sign-up, used after an address change, verified the new address."""
    email = await register(client)
    signup_token = _token_from((await smtp_server.wait_for(email))[0])
    tokens = await login(client, email)
    new = unique_email("later")
    changed = await client.patch("/users/me", json={"email": new, "current_password": PASSWORD}, headers=bearer(tokens))
    assert changed.status_code == 200
    change_token = _token_from((await smtp_server.wait_for(new))[0])
    assert (await client.post("/auth/verify-email", json={"token": change_token})).status_code == 200
    late = await client.post("/auth/verify-email", json={"token": signup_token})
    assert late.status_code == 400 and "no longer uses" in late.json()["detail"]

    # An admin clears the flag; the stale sign-up token must not set it again either.
    from housify_api.tables import User

    await User.update({User.email_verified: False}).where(User.email == new)
    assert (await client.post("/auth/verify-email", json={"token": signup_token})).status_code == 400
    me = (await client.get("/users/me", headers=bearer(await login(client, new)))).json()
    assert me["email_verified"] is False


async def test_a_password_reset_and_log_out_everywhere_delete_the_api_keys(client, smtp_server):
    """Item 12: on 02e5a16 keys outlived a reset (asked after a suspected compromise) and log-out-everywhere."""
    email = await register(client)
    tokens = await login(client, email)
    key = {"X-API-Key": await _api_key(client, tokens)}
    assert (await client.get("/users/me", headers=key)).status_code == 200
    await client.post("/auth/password-reset", json={"email": email})
    reset = next(m for m in await smtp_server.wait_for(email, count=3) if m["Subject"] == "Reset your Housify password")
    done = await client.post(
        "/auth/password-reset/confirm", json={"token": _token_from(reset), "new_password": "after-the-breach-2026"}
    )
    assert done.status_code == 200
    assert (await client.get("/users/me", headers=key)).status_code == 401

    tokens = await login(client, email, "after-the-breach-2026")
    key = {"X-API-Key": await _api_key(client, tokens)}
    out = await client.post("/auth/logout-all", headers=bearer(tokens))
    assert out.status_code == 200 and "1 API key" in out.json()["message"]
    assert (await client.get("/users/me", headers=key)).status_code == 401


async def test_a_password_change_keeps_the_keys_and_shows_their_last_use(client, user):
    """Item 12, the documented rule: the owner who proves the password keeps the integrations running."""
    key = await _api_key(client, user["tokens"])
    assert (await client.get("/users/me", headers={"X-API-Key": key})).status_code == 200
    listed = (await client.get("/users/me/api-keys", headers=bearer(user["tokens"]))).json()
    assert listed[0]["last_used_at"] is not None
    changed = await client.put(
        "/users/me/password",
        json={"current_password": PASSWORD, "new_password": "rotated-on-schedule-1"},
        headers=bearer(user["tokens"]),
    )
    assert changed.status_code == 200
    assert (await client.get("/users/me", headers={"X-API-Key": key})).status_code == 200


def _with_settings(api, **changes):  # noqa: ANN001, ANN003, ANN202
    """The app's AuthService with some settings changed (same Redis, mailer, database)."""
    import dataclasses

    import msgspec

    auth = api.app.state.services.auth
    return dataclasses.replace(auth, settings=msgspec.structs.replace(auth.settings, **changes))


async def test_sign_ups_are_limited_per_client(api) -> None:
    """Item 13: on 02e5a16 nothing limited sign-ups (and their 409 tells which addresses have accounts)."""
    from litestar.exceptions import TooManyRequestsException

    from housify_api.auth.schemas import RegisterIn

    auth = _with_settings(api, signup_max_per_hour=2)
    client = unique_ip()
    for _ in range(2):
        await auth.register(RegisterIn(email=unique_email("burst"), password=PASSWORD), client)
    with pytest.raises(TooManyRequestsException, match="sign-ups from your address") as refused:
        await auth.register(RegisterIn(email=unique_email("burst"), password=PASSWORD), client)
    assert int(refused.value.headers["Retry-After"]) > 0
    await auth.register(RegisterIn(email=unique_email("other"), password=PASSWORD), unique_ip())


async def test_mail_to_one_address_is_limited_and_reset_answers_alike(api, client, smtp_server) -> None:
    """Item 13: on 02e5a16, 41 mails reached one victim in a second (password-reset requests)."""
    import asyncio

    email = await register(client)
    await smtp_server.wait_for(email)  # the verification mail: 1 of the hour's 3
    auth = _with_settings(api, mail_per_recipient_hour=3)
    for _ in range(10):
        await auth.request_password_reset(email)
    await asyncio.sleep(0.5)
    resets = [m for m in smtp_server.to(email) if m["Subject"] == "Reset your Housify password"]
    assert len(resets) == 2, len(resets)
    known = await client.post("/auth/password-reset", json={"email": email})
    unknown = await client.post("/auth/password-reset", json={"email": unique_email("ghost")})
    assert known.status_code == unknown.status_code == 202 and known.json() == unknown.json()


async def test_an_admin_verifying_an_address_keeps_the_users_tokens(client, user, admin_tokens) -> None:
    """Access tokens do not carry the verified flag: marking an address verified does not log anyone out."""
    me = (await client.get("/users/me", headers=bearer(user["tokens"]))).json()
    done = await client.patch(f"/admin/users/{me['id']}", json={"email_verified": True}, headers=bearer(admin_tokens))
    assert done.status_code == 200 and done.json()["email_verified"] is True
    assert (await client.get("/users/me", headers=bearer(user["tokens"]))).status_code == 200
    demoted = await client.patch(f"/admin/users/{me['id']}", json={"services": []}, headers=bearer(admin_tokens))
    assert demoted.status_code == 200
    assert (await client.get("/users/me", headers=bearer(user["tokens"]))).status_code == 401  # claims changed
