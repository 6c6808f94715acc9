"""Periods across their boundary with a controlled UTC clock: renewal ahead of the end, a paid renewal
extends, a downgrade waits for the end and then the free level's API key cap holds, grants end,
and several instances sweeping at once do each thing once."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

import httpx
import pytest

from apikit import Accounts, User
from billing.kit import as_user, checkout, level_of

pytestmark = pytest.mark.timeout(120)


async def pro_by_payment(billing_api, http: httpx.AsyncClient, user: User) -> datetime:
    """Buy Pro through the stand-in; returns the period's end."""
    order = await checkout(http, user)
    await billing_api.standin.set_status(billing_api.standin.invoice_for_order(order["id"])["id"], "Settled")
    status = (await as_user(http, user, "GET", "/users/me/subscription")).json()
    assert status["level"] == "Pro-Tier", status
    return datetime.fromisoformat(status["period"]["ends_at"])


async def test_paid_renewal_extends_from_the_old_end(billing_api, http, accounts: Accounts, clock, smtp_server) -> None:
    gil = await accounts.user()
    end = await pro_by_payment(billing_api, http, gil)
    clock.now = end - timedelta(hours=71)  # inside the 72 h lead
    assert (await billing_api.billing.sweep()).renewals.count(gil.id) == 1
    assert gil.id not in (await billing_api.billing.sweep()).renewals  # made once
    orders = (await as_user(http, gil, "GET", "/users/me/orders")).json()["items"]
    renewal = next(o for o in orders if o["kind"] == "renewal")
    assert renewal["state"] == "pending" and renewal["amount"] == "9.99"
    await billing_api.standin.set_status(billing_api.standin.invoice_for_order(renewal["id"])["id"], "Settled")
    period = (await as_user(http, gil, "GET", "/users/me/subscription")).json()["period"]
    assert datetime.fromisoformat(period["ends_at"]) == end + timedelta(days=30)
    clock.now = end + timedelta(seconds=1)  # the old end passes: nothing ends
    assert gil.id not in (await billing_api.billing.sweep()).ended and await level_of(http, gil) == "Pro-Tier"


async def test_downgrade_waits_for_the_end_then_the_key_cap_holds(billing_api, http, accounts: Accounts, clock) -> None:
    hal = await accounts.user()
    end = await pro_by_payment(billing_api, http, hal)
    keys = []
    for n in range(5):
        created = await as_user(http, hal, "POST", "/users/me/api-keys", json={"name": f"k{n}"})
        assert created.status_code == 201, created.text
        keys.append(created.json())
    chosen = await as_user(http, hal, "PUT", "/users/me/subscription", json={"subscription_level": "Free-Tier"})
    assert chosen.json()["outcome"] == "scheduled" and chosen.json()["level"] == "Pro-Tier"
    assert chosen.json()["period"]["next_level"] == "Free-Tier" and not chosen.json()["period"]["renews"]
    clock.now = end - timedelta(hours=1)
    assert hal.id not in (await billing_api.billing.sweep()).renewals  # no invoice for a level being left
    for key in keys:
        assert (await http.get("/users/me", headers={"X-API-Key": key["key"]})).status_code == 200
    clock.now = end
    assert (await billing_api.billing.sweep()).ended.count(hal.id) == 1
    assert await level_of(http, hal) == "Free-Tier"
    # Free's cap is 1: the newest key stays, the four older ones are disabled.
    answers = [(await http.get("/users/me", headers={"X-API-Key": key["key"]})).status_code for key in keys]
    assert answers == [401, 401, 401, 401, 200]
    listed = {k["id"]: k for k in (await as_user(http, hal, "GET", "/users/me/api-keys")).json()}
    assert [listed[k["id"]]["disabled_at"] is not None for k in keys] == [True, True, True, True, False]
    # Back on Pro (an admin's grant here), the disabled keys work again.
    return_to_pro = await billing_api.billing.grant_period(hal.id, await billing_api.billing.levels.get("Pro-Tier"), 30)
    assert return_to_pro is not None
    answers = [(await http.get("/users/me", headers={"X-API-Key": key["key"]})).status_code for key in keys]
    assert answers == [200] * 5


async def test_cancel_a_scheduled_downgrade(billing_api, http, accounts: Accounts, clock) -> None:
    ida = await accounts.user()
    end = await pro_by_payment(billing_api, http, ida)
    await as_user(http, ida, "PUT", "/users/me/subscription", json={"subscription_level": "Free-Tier"})
    kept = await as_user(http, ida, "PUT", "/users/me/subscription", json={"subscription_level": "Pro-Tier"})
    assert kept.json()["outcome"] == "cancelled_change" and kept.json()["period"]["renews"]
    clock.now = end - timedelta(hours=1)
    assert (await billing_api.billing.sweep()).renewals.count(ida.id) == 1


async def test_two_instances_sweep_once(billing_api, http, accounts: Accounts, clock, smtp_server) -> None:
    jo = await accounts.user()
    end = await pro_by_payment(billing_api, http, jo)
    first = billing_api.billing
    second = dataclasses.replace(first)  # another API instance: same database, provider and clock
    clock.now = end - timedelta(hours=2)
    reports = await asyncio.gather(first.sweep(), second.sweep(), first.sweep())
    assert sum(r.renewals.count(jo.id) for r in reports) == 1
    orders = (await as_user(http, jo, "GET", "/users/me/orders")).json()["items"]
    assert [o["kind"] for o in orders].count("renewal") == 1
    clock.now = end
    reports = await asyncio.gather(first.sweep(), second.sweep(), first.sweep())
    assert sum(r.ended.count(jo.id) for r in reports) == 1
    assert await level_of(http, jo) == "Free-Tier"
    await asyncio.sleep(0.3)
    ended_mails = [m for m in smtp_server.to(jo.email) if "has ended" in m["Subject"]]
    assert len(ended_mails) == 1


async def test_renewal_paid_after_the_end_starts_a_new_period(billing_api, http, accounts: Accounts, clock) -> None:
    kim = await accounts.user()
    end = await pro_by_payment(billing_api, http, kim)
    clock.now = end - timedelta(hours=1)
    await billing_api.billing.sweep()
    renewal = next(
        o for o in (await as_user(http, kim, "GET", "/users/me/orders")).json()["items"] if o["kind"] == "renewal"
    )
    clock.now = end
    await billing_api.billing.sweep()
    assert await level_of(http, kim) == "Free-Tier"
    clock.now = end + timedelta(minutes=2)  # paid late, within the invoice's time
    await billing_api.standin.set_status(billing_api.standin.invoice_for_order(renewal["id"])["id"], "Settled")
    period = (await as_user(http, kim, "GET", "/users/me/subscription")).json()["period"]
    assert period["level"] == "Pro-Tier" and datetime.fromisoformat(period["ends_at"]) == clock.now + timedelta(days=30)


async def test_times_are_utc(billing_api, http, accounts: Accounts, clock) -> None:
    lee = await accounts.user()
    await pro_by_payment(billing_api, http, lee)
    order = (await as_user(http, lee, "GET", "/users/me/orders")).json()["items"][0]
    for name in ("created_at", "settled_at", "period_start", "period_end"):
        assert order[name].endswith(("Z", "+00:00")), (name, order[name])


async def test_back_on_free_over_quota_nothing_is_deleted_new_work_refused(
    billing_api, http, accounts: Accounts, clock
) -> None:
    """A period ends with the pictures over Free's storage: they stay, uploads and jobs get 413 until under it."""
    from apikit import picture, upload
    from housify_api.media.tables import Image, StorageUse

    uma = await accounts.user()
    end = await pro_by_payment(billing_api, http, uma)
    assert (await upload(http, uma)).status_code == 201
    pictures = await Image.count().where(Image.owner == uma.id)
    # As if Pro's 100 GB held 50 GB of pictures (Free allows 10 GB).
    await StorageUse.update({StorageUse.bytes_used: 50 * 1024**3}).where(StorageUse.owner == uma.id)
    clock.now = end
    assert uma.id in (await billing_api.billing.sweep()).ended
    billing_api.billing.levels.forget()
    refused = await as_user(http, uma, "POST", "/images/uploads", files={"file": ("a.png", picture(), "image/png")})
    assert refused.status_code == 413, refused.text
    job = await as_user(http, uma, "POST", "/jobs", json={"task": "text2img", "prompt": "a calm living room"})
    assert job.status_code == 413 and "storage limit" in job.json()["detail"], job.text
    assert await Image.count().where(Image.owner == uma.id) == pictures  # nothing deleted
