"""/users/me (profile, password, deletion), API keys (shown once, hashed, capped, X-API-Key), mailed tokens."""

from __future__ import annotations

import re

from apikit import PASSWORD, bearer, login, register, unique_email


def _token_from(mail) -> str:  # noqa: ANN001
    body = mail.get_payload(decode=True).decode()
    return re.search(r'"token": "([^"]+)"', body).group(1)


async def test_api_keys_lifecycle_and_cap(client, user, redis_client, admin_tokens):
    auth = bearer(user["tokens"])
    created = await client.post("/users/me/api-keys", json={"name": "laptop"}, headers=auth)
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("hk_") and len(key) > 40
    listed = (await client.get("/users/me/api-keys", headers=auth)).json()
    assert len(listed) == 1 and "key" not in listed[0] and listed[0]["prefix"] == key[3:11]

    from housify_api.tables import ApiKey

    stored = await ApiKey.select(ApiKey.key_hash).where(ApiKey.id == listed[0]["id"]).first()
    assert key not in stored["key_hash"] and len(stored["key_hash"]) == 64

    me = await client.get("/users/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["email"] == user["email"]

    capped = await client.post("/users/me/api-keys", json={"name": "second"}, headers=auth)
    assert capped.status_code == 403 and "limit" in capped.json()["detail"] and "Free-Tier" in capped.json()["detail"]

    # An API key cannot mint keys, change the password or end sessions.
    assert (await client.post("/users/me/api-keys", json={"name": "x"}, headers={"X-API-Key": key})).status_code == 403
    assert (await client.post("/auth/logout-all", headers={"X-API-Key": key})).status_code == 403

    # Pro-Tier (an admin's grant: this app takes no payments) allows more.
    assert (
        await client.patch(
            f"/admin/users/{me.json()['id']}", json={"subscription_level": "Pro-Tier"}, headers=bearer(admin_tokens)
        )
    ).status_code == 200
    assert (
        await client.post("/users/me/api-keys", json={"name": "second"}, headers={"X-API-Key": key})
    ).status_code == 403
    refreshed = (
        await client.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": user["tokens"]["refresh_token"]}
        )
    ).json()
    second = await client.post("/users/me/api-keys", json={"name": "second"}, headers=bearer(refreshed))
    assert second.status_code == 201, second.text

    deleted = await client.delete(f"/users/me/api-keys/{listed[0]['id']}", headers=bearer(refreshed))
    assert deleted.status_code == 204
    gone = await client.get("/users/me", headers={"X-API-Key": key})
    assert gone.status_code == 401 and gone.json()["detail"] == "invalid API key"
    again = await client.delete(f"/users/me/api-keys/{listed[0]['id']}", headers=bearer(refreshed))
    assert again.status_code == 404


async def test_api_key_of_someone_else_cannot_be_deleted(client, user):
    other_email = await register(client)
    other = await login(client, other_email)
    key_id = (await client.post("/users/me/api-keys", json={"name": "mine"}, headers=bearer(other))).json()["id"]
    assert (await client.delete(f"/users/me/api-keys/{key_id}", headers=bearer(user["tokens"]))).status_code == 404
    assert (await client.delete("/users/me/api-keys/not-a-uuid", headers=bearer(user["tokens"]))).status_code in (
        400,
        404,
    )


async def test_profile_patch_and_duplicate_address(client, user):
    auth = bearer(user["tokens"])
    named = await client.patch("/users/me", json={"full_name": "Grace Hopper"}, headers=auth)
    assert named.status_code == 200 and named.json()["full_name"] == "Grace Hopper"
    taken = await register(client)
    conflict = await client.patch("/users/me", json={"email": taken, "current_password": PASSWORD}, headers=auth)
    assert conflict.status_code == 409
    unknown = await client.patch("/users/me", json={"role": "admin"}, headers=auth)
    assert unknown.status_code == 400 and "role" in unknown.text


async def test_password_change_ends_other_sessions(client, user):
    other = await login(client, user["email"])
    wrong = await client.put(
        "/users/me/password",
        json={"current_password": "nope", "new_password": "brand-new-password-1"},
        headers=bearer(user["tokens"]),
    )
    assert wrong.status_code == 400 and "current_password" in wrong.json()["detail"]
    weak = await client.put(
        "/users/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=bearer(user["tokens"]),
    )
    assert weak.status_code == 400 and weak.json()["detail"].startswith("new_password:")
    ok = await client.put(
        "/users/me/password",
        json={"current_password": PASSWORD, "new_password": "brand-new-password-1"},
        headers=bearer(user["tokens"]),
    )
    assert ok.status_code == 200 and "1 other session" in ok.json()["message"]
    assert (await client.get("/users/me", headers=bearer(user["tokens"]))).status_code == 200  # this session stays
    assert (await client.get("/users/me", headers=bearer(other))).status_code == 401
    await login(client, user["email"], "brand-new-password-1")


async def test_delete_me(client, user):
    assert (await client.delete("/users/me", headers=bearer(user["tokens"]))).status_code == 204
    assert (await client.get("/users/me", headers=bearer(user["tokens"]))).status_code == 401
    relogin = await client.post("/auth/token", data={"username": user["email"], "password": PASSWORD})
    assert relogin.status_code == 401


async def test_email_verification(client, smtp_server):
    email = await register(client)
    mail = (await smtp_server.wait_for(email))[0]
    assert mail["Subject"] == "Confirm your Housify e-mail address"
    token = _token_from(mail)
    assert (await client.post("/auth/verify-email", json={"token": "x" * 20})).status_code == 400
    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 200
    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 400  # single use
    tokens = await login(client, email)
    assert (await client.get("/users/me", headers=bearer(tokens))).json()["email_verified"] is True


async def test_password_reset(client, smtp_server):
    email = await register(client)
    old_session = await login(client, email)
    known = await client.post("/auth/password-reset", json={"email": email})
    unknown = await client.post("/auth/password-reset", json={"email": unique_email("ghost")})
    assert known.status_code == unknown.status_code == 202 and known.json() == unknown.json()
    mails = await smtp_server.wait_for(email, count=3)  # verification, login notice, reset
    reset = next(m for m in mails if m["Subject"] == "Reset your Housify password")
    token = _token_from(reset)
    # A person opens the web app's reset screen from the mail; the token rides in the fragment.
    assert f"/#/reset?token={token}\r\n" in reset.get_payload(decode=True).decode()
    weak = await client.post("/auth/password-reset/confirm", json={"token": token, "new_password": "password123"})
    assert weak.status_code == 400 and "new_password" in weak.json()["detail"]
    done = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "a-fresh-start-2026"}
    )
    assert done.status_code == 200
    assert (await client.get("/users/me", headers=bearer(old_session))).status_code == 401
    assert (
        await client.post("/auth/password-reset/confirm", json={"token": token, "new_password": "a-fresh-start-2027"})
    ).status_code == 400
    await login(client, email, "a-fresh-start-2026")


async def test_concurrent_key_requests_cannot_pass_the_cap(client, user):
    import asyncio

    responses = await asyncio.gather(
        *(client.post("/users/me/api-keys", json={"name": f"k{i}"}, headers=bearer(user["tokens"])) for i in range(5))
    )
    assert sorted(r.status_code for r in responses) == [201, 403, 403, 403, 403]
