"""Roles and guards, admin user management, per-service access, subscription levels, usage and analytics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import UUID

import jwt
import pytest
from litestar.exceptions import PermissionDeniedException

from apikit import SUPERUSER_EMAIL, bearer, login


async def _refresh(client, tokens: dict) -> dict:
    response = await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_non_admin_gets_403_on_every_admin_route(client, user):
    me = (await client.get("/users/me", headers=bearer(user["tokens"]))).json()
    for method, path in [
        ("GET", "/admin/users"),
        ("GET", f"/admin/users/{me['id']}"),
        ("PATCH", f"/admin/users/{me['id']}"),
        ("DELETE", f"/admin/users/{me['id']}"),
        ("GET", "/admin/analytics/service-calls"),
    ]:
        response = await client.request(
            method, path, headers=bearer(user["tokens"]), json={} if method == "PATCH" else None
        )
        assert response.status_code == 403, (method, path)
        assert response.json()["detail"] == "admin role required"
    assert (await client.get("/admin/users")).status_code == 401


async def test_options_on_guarded_routes_answers_allow_not_500(client, user):
    """Litestar's automatic OPTIONS handler inherits controller guards, but auth skips OPTIONS (found by schemathesis)."""
    me = (await client.get("/users/me", headers=bearer(user["tokens"]))).json()
    for path in ("/admin/users", f"/admin/users/{me['id']}", "/admin/analytics/service-calls", "/prompts/assist"):
        for headers in ({}, bearer(user["tokens"])):
            response = await client.options(path, headers=headers)
            assert response.status_code == 204, (path, response.text)
            assert "OPTIONS" in response.headers["allow"]
    # The guard still refuses the real methods.
    assert (await client.get("/admin/users", headers=bearer(user["tokens"]))).status_code == 403


async def test_registration_cannot_make_an_admin(client):
    response = await client.post(
        "/auth/register", json={"email": "x@example.com", "password": "violet-harbor-ab", "role": "admin"}
    )
    assert response.status_code == 400


async def test_admin_lists_filters_and_paginates(client, admin_tokens, user):
    response = await client.get(
        "/admin/users", params={"email": user["email"].split("@")[0].upper()}, headers=bearer(admin_tokens)
    )
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 1 and page["items"][0]["email"] == user["email"]
    # Other areas of the same test run add their own admins: check the filter, not the whole list.
    admins = (
        await client.get("/admin/users", params={"role": "admin", "limit": 100}, headers=bearer(admin_tokens))
    ).json()
    assert SUPERUSER_EMAIL in [u["email"] for u in admins["items"]]
    assert {u["role"] for u in admins["items"]} == {"admin"}
    first = (await client.get("/admin/users", params={"limit": 1, "offset": 0}, headers=bearer(admin_tokens))).json()
    second = (await client.get("/admin/users", params={"limit": 1, "offset": 1}, headers=bearer(admin_tokens))).json()
    assert len(first["items"]) == len(second["items"]) == 1 and first["items"][0]["id"] != second["items"][0]["id"]
    assert first["total"] >= 2
    bad = await client.get("/admin/users", params={"limit": 0}, headers=bearer(admin_tokens))
    assert bad.status_code == 400 and "limit" in bad.text
    bad_role = await client.get("/admin/users", params={"role": "root"}, headers=bearer(admin_tokens))
    assert bad_role.status_code == 400 and "role" in bad_role.text


async def test_admin_revokes_a_service_and_the_user_gets_new_claims(client, admin_tokens, user):
    me = (await client.get("/users/me", headers=bearer(user["tokens"]))).json()
    assert "text2img" in me["services"]
    patched = await client.patch(
        f"/admin/users/{me['id']}",
        json={"services": ["img2img"], "subscription_level": "Pro-Tier"},
        headers=bearer(admin_tokens),
    )
    assert patched.status_code == 200 and patched.json()["services"] == ["img2img"]
    stale = await client.get("/users/me", headers=bearer(user["tokens"]))
    assert stale.status_code == 401 and "outdated" in stale.json()["detail"]
    fresh = await _refresh(client, user["tokens"])
    claims = jwt.decode(fresh["access_token"], options={"verify_signature": False})
    assert claims["svc"] == ["img2img"] and claims["tier"] == "Pro-Tier"
    bad = await client.patch(f"/admin/users/{me['id']}", json={"services": ["teleport"]}, headers=bearer(admin_tokens))
    assert bad.status_code == 400 and "services" in bad.text
    unknown_level = await client.patch(
        f"/admin/users/{me['id']}", json={"subscription_level": "Gold"}, headers=bearer(admin_tokens)
    )
    assert unknown_level.status_code == 400 and "subscription_level" in unknown_level.json()["detail"]


async def test_admin_deactivates_and_deletes(client, admin_tokens, user):
    me = (await client.get("/users/me", headers=bearer(user["tokens"]))).json()
    off = await client.patch(f"/admin/users/{me['id']}", json={"is_active": False}, headers=bearer(admin_tokens))
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert (await client.get("/users/me", headers=bearer(user["tokens"]))).status_code == 401
    refresh = await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": user["tokens"]["refresh_token"]}
    )
    assert refresh.status_code == 401
    relogin = await client.post("/auth/token", data={"username": user["email"], "password": "violet-harbor-seventeen"})
    assert relogin.status_code == 403 and "disabled" in relogin.json()["detail"]
    assert (await client.delete(f"/admin/users/{me['id']}", headers=bearer(admin_tokens))).status_code == 204
    assert (await client.get(f"/admin/users/{me['id']}", headers=bearer(admin_tokens))).status_code == 404


async def test_admin_cannot_lock_themself_out(client, admin_tokens):
    admin = (await client.get("/users/me", headers=bearer(admin_tokens))).json()
    response = await client.patch(f"/admin/users/{admin['id']}", json={"role": "user"}, headers=bearer(admin_tokens))
    assert response.status_code == 409


def test_requires_service_guard():
    from housify_api.auth import AuthUser, requires_service

    guard = requires_service("inpaint")

    def conn(services):
        user = AuthUser(id=UUID(int=1), email="a@b.c", role="user", tier="Free-Tier", services=frozenset(services))
        return SimpleNamespace(user=user, scope={"method": "POST", "user": user})

    guard(conn({"inpaint"}), None)
    with pytest.raises(PermissionDeniedException, match="inpaint"):
        guard(conn({"text2img"}), None)
    with pytest.raises(ValueError, match="unknown service"):
        requires_service("teleport")


async def test_subscriptions_list_and_change(client, user, admin_tokens):
    # The seeded levels (docs/design.md "Subscription levels"), in price order; other areas' tests may add levels of their own.
    levels = [
        item
        for item in (await client.get("/subscriptions")).json()
        if item["level"]["name"] in ("Free-Tier", "Pro-Tier")
    ]
    assert [(item["level"]["name"], item["price"]) for item in levels] == [("Free-Tier", "0.00"), ("Pro-Tier", "9.99")]
    assert levels[0]["level"]["api_key_limit"] == 1 and levels[1]["level"]["watermark"] is False
    bad = await client.put(
        "/users/me/subscription", json={"subscription_level": "Gold"}, headers=bearer(user["tokens"])
    )
    assert bad.status_code == 400 and "Gold" in bad.json()["detail"]
    # No payment provider in this app: a paid level is an admin's grant only (docs/billing.md).
    refused = await client.put(
        "/users/me/subscription", json={"subscription_level": "Pro-Tier"}, headers=bearer(user["tokens"])
    )
    assert refused.status_code == 403 and "administrator can grant" in refused.json()["detail"]
    me = (await client.get("/users/me", headers=bearer(user["tokens"]))).json()
    assert me["subscription_level"] == "Free-Tier"
    ok = await client.patch(
        f"/admin/users/{me['id']}", json={"subscription_level": "Pro-Tier"}, headers=bearer(admin_tokens)
    )
    assert ok.status_code == 200 and ok.json()["subscription_level"] == "Pro-Tier"
    fresh = await _refresh(client, user["tokens"])
    assert jwt.decode(fresh["access_token"], options={"verify_signature": False})["tier"] == "Pro-Tier"


async def test_levels_are_seeded_idempotently(api):  # noqa: ANN001
    levels = api.app.state.services.levels
    assert await levels.seed() == 0
    names = [level.name for level in await levels.list()]
    assert [name for name in names if name in ("Free-Tier", "Pro-Tier")] == ["Free-Tier", "Pro-Tier"]
    assert len(names) == len(set(names))


async def test_subscriptions_in_another_currency_need_the_rates_service(client):
    unconfigured = await client.get("/subscriptions", params={"currency": "BTC"})
    assert unconfigured.status_code == 503 and "HOUSIFY_SOAP_WSDL_URL" in unconfigured.json()["detail"]
    bad = await client.get("/subscriptions", params={"currency": "B T C"})
    assert bad.status_code == 400 and "currency" in bad.json()["detail"]


async def test_usage_and_analytics_read_the_service_call_log(client, admin_tokens, user):
    from housify_api.usage import record_service_call

    me = (await client.get("/users/me", headers=bearer(user["tokens"]))).json()
    monday_9 = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
    await record_service_call(
        "text2img",
        UUID(me["id"]),
        request_time=monday_9,
        start_time=monday_9 + timedelta(seconds=1),
        completion_time=monday_9 + timedelta(seconds=3),
        success=True,
    )
    await record_service_call(
        "inpaint", UUID(me["id"]), request_time=monday_9 + timedelta(days=2), success=False, error="worker died"
    )
    with pytest.raises(ValueError):
        await record_service_call("teleport", None, request_time=monday_9, success=True)

    usage = (await client.get("/users/me/usage", headers=bearer(user["tokens"]))).json()
    assert usage["calls"]["total"] == 2
    assert [c["service"] for c in usage["calls"]["items"]] == ["inpaint", "text2img"]
    assert usage["calls"]["items"][1]["duration_ms"] == 2000
    assert {t["service"]: (t["calls"], t["failures"]) for t in usage["totals"]} == {
        "inpaint": (1, 1),
        "text2img": (1, 0),
    }

    params = {"since": "2026-11-16T00:00:00Z", "until": "2026-11-23T00:00:00Z"}
    report = (await client.get("/admin/analytics/service-calls", params=params, headers=bearer(admin_tokens))).json()
    assert report["total"] >= 2
    by_hour = {b["key"]: b["calls"] for b in report["by_hour_of_day"]}
    by_day = {b["key"]: b["calls"] for b in report["by_day_of_week"]}
    assert by_hour[9] >= 2 and by_day[1] >= 1 and by_day[3] >= 1
    only = (
        await client.get(
            "/admin/analytics/service-calls", params={**params, "service": "inpaint"}, headers=bearer(admin_tokens)
        )
    ).json()
    assert [s["service"] for s in only["by_service"]] == ["inpaint"]
    reversed_window = await client.get(
        "/admin/analytics/service-calls",
        params={"since": params["until"], "until": params["since"]},
        headers=bearer(admin_tokens),
    )
    assert reversed_window.status_code == 400 and "since" in reversed_window.json()["detail"]


async def test_superuser_can_log_in(client):
    tokens = await login(client, SUPERUSER_EMAIL, "tall-giraffe-orbit-42")
    assert jwt.decode(tokens["access_token"], options={"verify_signature": False})["role"] == "admin"
