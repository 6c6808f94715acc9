"""Admins edit levels (validated, audited; limits at once, price and period for new orders) and grant levels."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from apikit import Accounts
from billing.kit import as_user, checkout, level_of

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def scratch_level(billing_api) -> AsyncIterator[str]:
    """A paid level of this test's own (the seeded ones are shared by every area's tests)."""
    from housify_api.tables import SubscriptionLevel

    name = f"Test-{secrets.token_hex(3)}"
    await SubscriptionLevel.insert(
        SubscriptionLevel(
            name=name,
            price_usd=Decimal("4.00"),
            upload_size_limit_mb=200,
            storage_limit_gb=20,
            its=3.0,
            api_key_limit=3,
            requests_hour=10,
            watermark=False,
            period_days=30,
        )
    )
    yield name
    await SubscriptionLevel.delete().where(SubscriptionLevel.name == name)
    billing_api.billing.levels.forget()


async def test_patch_level_is_validated_audited_and_applies(
    billing_api, http, accounts: Accounts, admin, scratch_level, clock
) -> None:
    mo = await accounts.user()
    old_order = await checkout(http, mo, scratch_level)
    assert old_order["amount"] == "4.00"

    # Validation names the field; unknown level 404; users 403.
    bad = await http.patch(f"/admin/levels/{scratch_level}", json={"price_usd": -1}, headers=admin)
    assert bad.status_code == 400 and "price_usd" in bad.text
    unknown_field = await http.patch(f"/admin/levels/{scratch_level}", json={"colour": "red"}, headers=admin)
    assert unknown_field.status_code == 400 and "colour" in unknown_field.text
    assert (await http.patch("/admin/levels/Nope", json={"requests_hour": 1}, headers=admin)).status_code == 404
    assert (
        await http.patch(f"/admin/levels/{scratch_level}", json={"requests_hour": 1}, headers=mo.headers)
    ).status_code == 403

    change = {
        "price_usd": "5.50",
        "period_days": 7,
        "requests_hour": 11,
        "api_key_limit": 4,
        "watermark": True,
        "its": 3.5,
        "upload_size_limit_mb": 300,
        "storage_limit_gb": 30,
    }
    edited = await http.patch(f"/admin/levels/{scratch_level}", json=change, headers=admin)
    assert edited.status_code == 200, edited.text
    level = edited.json()
    assert level["price_usd"] == "5.50" and level["period_days"] == 7 and level["requests_hour"] == 11
    listed = {p["level"]["name"]: p["level"] for p in (await http.get("/subscriptions")).json()}
    assert listed[scratch_level]["api_key_limit"] == 4 and listed[scratch_level]["watermark"] is True

    audit = (await http.get("/admin/audit", params={"target": scratch_level}, headers=admin)).json()
    entry = audit["items"][0]
    assert entry["action"] == "level_edit" and entry["actor_email"] == "root@example.com"
    assert entry["before"]["price_usd"] == "4.00" and entry["after"]["price_usd"] == "5.50"
    assert entry["before"]["period_days"] == 30 and entry["after"]["period_days"] == 7

    # The open order keeps its price; a new order (after it ends) takes the new price and period.
    standin = billing_api.standin
    await standin.set_status(standin.invoice_for_order(old_order["id"])["id"], "Expired")
    new_order = await checkout(http, mo, scratch_level)
    assert new_order["amount"] == "5.50" and new_order["period_days"] == 7
    await standin.set_status(standin.invoice_for_order(new_order["id"])["id"], "Settled")
    period = (await as_user(http, mo, "GET", "/users/me/subscription")).json()["period"]
    assert datetime.fromisoformat(period["ends_at"]) == clock.now + timedelta(days=7)


async def test_grants_are_audited_and_end(billing_api, http, accounts: Accounts, admin, clock) -> None:
    ned = await accounts.user()
    granted = await http.post(
        f"/admin/users/{ned.id}/grants", json={"level": "Pro-Tier", "days": 3, "note": "support case 7"}, headers=admin
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["period"]["source"] == "grant" and not granted.json()["period"]["renews"]
    assert await level_of(http, ned) == "Pro-Tier"
    audit = (await http.get("/admin/audit", params={"target": str(ned.id)}, headers=admin)).json()["items"]
    assert audit[0]["action"] == "grant" and audit[0]["before"]["level"] == "Free-Tier"
    assert (
        audit[0]["after"]["level"] == "Pro-Tier"
        and audit[0]["after"]["days"] == 3
        and audit[0]["note"] == "support case 7"
    )
    # Grants make no renewal invoice; they end on time.
    clock.advance(days=3, seconds=-60)
    assert ned.id not in (await billing_api.billing.sweep()).renewals
    clock.advance(seconds=60)
    assert (await billing_api.billing.sweep()).ended.count(ned.id) == 1 and await level_of(http, ned) == "Free-Tier"
    # Unknown level: 400 naming the field; unknown user 404; users cannot grant.
    assert (await http.post(f"/admin/users/{ned.id}/grants", json={"level": "Gold"}, headers=admin)).status_code == 400
    stranger = "00000000-0000-4000-8000-000000000000"
    assert (
        await http.post(f"/admin/users/{stranger}/grants", json={"level": "Pro-Tier"}, headers=admin)
    ).status_code == 404
    refused = await as_user(http, ned, "POST", f"/admin/users/{ned.id}/grants", json={"level": "Pro-Tier"})
    assert refused.status_code == 403


async def test_admin_user_patch_level_is_a_grant(billing_api, http, accounts: Accounts, admin, clock) -> None:
    oli = await accounts.user()
    patched = await http.patch(f"/admin/users/{oli.id}", json={"subscription_level": "Pro-Tier"}, headers=admin)
    assert patched.status_code == 200 and patched.json()["subscription_level"] == "Pro-Tier"
    status = (await as_user(http, oli, "GET", "/users/me/subscription")).json()
    assert status["period"]["source"] == "grant"
    assert datetime.fromisoformat(status["period"]["ends_at"]) == clock.now + timedelta(days=30)
    audit = (await http.get("/admin/audit", params={"target": str(oli.id)}, headers=admin)).json()["items"]
    assert audit[0]["action"] == "grant" and "PATCH" in audit[0]["note"]
    unknown = await http.patch(f"/admin/users/{oli.id}", json={"subscription_level": "Gold"}, headers=admin)
    assert unknown.status_code == 400 and "subscription_level" in unknown.json()["detail"]
