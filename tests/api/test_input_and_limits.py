"""Bad input gets a 4xx naming the problem; password rules; 409 duplicates; failed-login limits (429 + Retry-After)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from apikit import PASSWORD, bearer, register, unique_email, unique_ip


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": 42, "password": PASSWORD}, "email"),
        ({"password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": PASSWORD, "is_admin": True}, "is_admin"),
        ({"email": "a@example.com", "password": PASSWORD, "role": "admin"}, "role"),
        ({"email": "a@example.com", "password": PASSWORD, "full_name": "x" * 201}, "full_name"),
        ({"email": "a" * 320 + "@example.com", "password": PASSWORD}, "email"),
        ({"email": "a@example.com", "password": "p" * 2000}, "password"),
    ],
)
async def test_register_rejects_bad_bodies(client, body, named):
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 400, response.text
    assert named in response.text


async def test_malformed_json(client):
    response = await client.post("/auth/register", content=b'{"email": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["status_code"] == 400


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short1!", "at least 10 characters"),
        ("password123", "most commonly used"),
        ("aaaaaaaaaaaa", "one character repeated"),
        ("{local}-secret-99", "must not contain your e-mail address"),
    ],
)
async def test_password_rules_say_which_rule_failed(client, password, rule):
    email = unique_email("rules")
    response = await client.post(
        "/auth/register", json={"email": email, "password": password.format(local=email.split("@")[0])}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("password: ") and rule in response.json()["detail"]


async def test_duplicate_email_is_409_also_with_different_case(client):
    email = await register(client)
    response = await client.post("/auth/register", json={"email": email.upper(), "password": PASSWORD})
    assert response.status_code == 409 and "email" in response.json()["detail"]


async def test_concurrent_duplicate_registrations_give_one_201_and_409s(client):
    email = unique_email("race")
    responses = await asyncio.gather(
        *(client.post("/auth/register", json={"email": email, "password": PASSWORD}) for _ in range(4))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1 and set(codes[1:]) == {409}, codes


async def test_token_request_must_be_form_encoded(client):
    response = await client.post("/auth/token", json={"username": "a@example.com", "password": PASSWORD})
    assert response.status_code == 415 and "x-www-form-urlencoded" in response.json()["detail"]


async def test_expired_sessions_are_purged(client, user):
    from datetime import UTC, datetime, timedelta

    from housify_api.auth.service import AuthService
    from housify_api.tables import Session

    stale = await Session.select(Session.id).where(Session.user.email == user["email"]).first()
    await Session.update({Session.expires_at: datetime.now(UTC) - timedelta(days=2)}).where(Session.id == stale["id"])
    assert await AuthService.purge_expired_sessions() >= 1
    assert not await Session.exists().where(Session.id == stale["id"])


async def test_unsupported_grant_type(client):
    response = await client.post("/auth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 400 and "grant_type" in response.json()["detail"]


async def test_wrong_password_and_unknown_user_look_the_same(client):
    email = await register(client)
    ip = unique_ip()
    wrong = await client.post(
        "/auth/token", data={"username": email, "password": "nope-nope-nope"}, headers={"X-Forwarded-For": ip}
    )
    unknown = await client.post(
        "/auth/token", data={"username": unique_email(), "password": "nope-nope-nope"}, headers={"X-Forwarded-For": ip}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_unknown_route_and_method(client):
    assert (await client.get("/nope")).status_code == 404
    assert (await client.delete("/auth/register")).status_code == 405


async def test_nul_and_unmailable_addresses_are_400_not_500(client, user, admin_tokens):
    """Found by schemathesis: PostgreSQL cannot store U+0000 (asyncpg raised -> 500), and an address with
    SMTP specials registered fine but its verification mail died in the background (aiosmtplib refuses it)."""
    reset = await client.post("/auth/password-reset", json={"email": "a\x00b@example.com"})
    assert reset.status_code == 400 and "email" in reset.text
    for email in ("a<>@example.com", "a b@example.com", "x@exa\nmple.com"):
        registered = await client.post("/auth/register", json={"email": email, "password": "violet-harbor-seventeen"})
        assert registered.status_code == 400 and "email" in registered.text, (email, registered.text)
    named = await client.patch("/users/me", json={"full_name": "Ada\x00"}, headers=bearer(user["tokens"]))
    assert named.status_code == 400 and "full_name" in named.text
    # The safety net for text without a pattern (a query parameter here).
    search = await client.get("/admin/users", params={"subscription_level": "Free\x00"}, headers=bearer(admin_tokens))
    assert search.status_code == 400 and "U+0000" in search.json()["detail"]


async def test_client_errors_log_no_traceback(client, caplog):
    """A plain HTTPException(status_code=415) was logged as 'Uncaught exception' with a full traceback
    (Litestar matched the class's status 500), so any client could flood the error log (found fuzzing)."""
    caplog.set_level(logging.INFO)
    for _ in range(3):
        response = await client.post(
            "/auth/token", json={"username": "a@example.com", "password": "x"}, headers={"X-Forwarded-For": unique_ip()}
        )
        assert response.status_code == 415
    await asyncio.sleep(0.1)  # the queue listener hands records over on its own thread
    traced = [r for r in caplog.records if "Uncaught exception" in r.getMessage() or r.exc_info]
    assert traced == []
