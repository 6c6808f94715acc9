"""Buying a plan in a browser, on its own (the user story walks it too, after the AI screens): choose Pro,
see the order wait, pay on the payment provider's page (the Greenfield stand-in), come back on Pro with the
order settled; an admin edits the plan's limits; the privacy and terms pages are linked."""

from __future__ import annotations

import re
import secrets

import httpx
from playwright.sync_api import expect
from tests.web.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD
from tests.web.test_user_story import log_in


def test_plans_story(page, standalone: str, viewport: str, greenfield) -> None:  # noqa: ANN001
    page, watch, screens = page
    dora = f"dora-{secrets.token_hex(3)}@example.com"
    assert httpx.post(f"{standalone}/auth/register", json={"email": dora, "password": PASSWORD}).status_code == 201
    log_in(page, dora)

    page.get_by_role("link", name="Plans").click()
    expect(page.get_by_role("heading", name="Pro-Tier")).to_be_visible()
    page.get_by_role("button", name="Switch to Pro-Tier").click()
    expect(page.get_by_test_id("order-state")).to_have_text("waiting for your payment")
    expect(page.get_by_role("link", name="Pay 9.99 USD")).to_be_visible()
    screens.capture("plans-order")
    watch.allow(greenfield.base_url)
    page.get_by_role("link", name="Pay 9.99 USD").click()
    expect(page.get_by_role("heading", name="Pay 9.99 USD")).to_be_visible()
    page.get_by_role("button", name="Pay invoice").click()
    expect(page.get_by_text(re.compile(r"You are on Pro-Tier until \d{4}-\d\d-\d\d \d\d:\d\d UTC"))).to_be_visible(
        timeout=15_000
    )
    expect(page.get_by_role("region", name="Orders table").get_by_text("settled")).to_be_visible()
    assert greenfield.violations == []
    screens.capture("plans-paid")

    # The legal pages are one click away.
    page.get_by_role("link", name="Privacy").click()
    expect(page.get_by_role("heading", name="Privacy policy")).to_be_visible()
    page.goto("/terms.html")
    expect(page.get_by_role("heading", name="Terms of use")).to_be_visible()

    # An admin edits Pro's limits; the change is listed.
    page.goto("/#/account")
    page.get_by_role("button", name="Log out", exact=True).click()
    log_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.get_by_role("link", name="Admin").click()
    form = page.get_by_role("form", name="Edit Pro-Tier")
    limit = 60 + int(secrets.token_hex(1), 16)
    form.get_by_label("Pictures an hour").fill(str(limit))
    form.get_by_role("button", name="Save Pro-Tier").click()
    expect(page.get_by_role("status").filter(has_text="Pro-Tier saved.")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text="admin@example.com: edited Pro-Tier").first).to_be_visible(
        timeout=15_000
    )
    levels = {p["level"]["name"]: p["level"] for p in httpx.get(f"{standalone}/subscriptions").json()}
    assert levels["Pro-Tier"]["requests_hour"] == limit
    screens.capture("admin-levels")
