"""The admin's story in a browser: find a user, change their access and plan, read the charts."""

from __future__ import annotations

import re
import secrets
import time

import httpx
from playwright.sync_api import expect
from tests.web.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD
from tests.web.test_user_story import log_in


def test_admin_story(page, standalone: str, viewport: str) -> None:  # noqa: ANN001
    page, watch, screens = page
    carl = f"carl-{secrets.token_hex(3)}@example.com"
    assert httpx.post(f"{standalone}/auth/register", json={"email": carl, "password": PASSWORD}).status_code == 201
    # One finished job, so the service-call charts have something to draw.
    carl_token = httpx.post(f"{standalone}/auth/token", data={"username": carl, "password": PASSWORD}).json()["access_token"]
    carl_auth = {"Authorization": f"Bearer {carl_token}"}
    job = httpx.post(f"{standalone}/jobs", headers=carl_auth, json={"prompt": "a hall", "width": 64, "height": 64, "steps": 2}).json()
    for _ in range(300):
        if httpx.get(f"{standalone}/jobs/{job['id']}", headers=carl_auth).json()["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)

    # A plain user sees no Admin link and the screen refuses them.
    log_in(page, carl)
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    page.goto("/#/admin")
    expect(page.get_by_role("heading", name="Admins only")).to_be_visible()
    page.get_by_role("link", name="Account").click()
    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    log_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.get_by_label("E-mail contains").fill(carl.split("@")[0])
    page.get_by_role("button", name="Filter users").click()
    expect(page.get_by_text("1 user", exact=True)).to_be_visible()
    expect(page.get_by_role("rowheader", name=re.compile(re.escape(carl)))).to_be_visible()

    page.get_by_role("checkbox", name=f"inpaint for {carl}").uncheck()
    expect(page.get_by_role("status").filter(has_text=f"{carl}: inpaint blocked.")).to_be_visible()
    page.get_by_role("combobox", name=f"Plan of {carl}").select_option("Pro-Tier")
    expect(page.get_by_role("status").filter(has_text=f"{carl}: plan Pro-Tier.")).to_be_visible()
    page.get_by_role("checkbox", name=f"Active: {carl}").uncheck()
    expect(page.get_by_role("status").filter(has_text=f"{carl}: disabled.")).to_be_visible()

    # The edits are real: the API reports them.
    token = httpx.post(f"{standalone}/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()["access_token"]
    users = httpx.get(f"{standalone}/admin/users", params={"email": carl}, headers={"Authorization": f"Bearer {token}"}).json()["items"]
    assert users[0]["subscription_level"] == "Pro-Tier" and not users[0]["is_active"] and "inpaint" not in users[0]["services"]

    page.get_by_role("combobox", name="Status").select_option("disabled")
    page.get_by_label("E-mail contains").fill("")
    page.get_by_role("button", name="Filter users").click()
    expect(page.get_by_role("rowheader", name=re.compile(re.escape(carl)))).to_be_visible()

    expect(page.get_by_role("heading", name="Service calls")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^[1-9]\d* calls from"))).to_be_visible()
    for chart in ("By service (dark: succeeded)", "By day of week", "By hour of day (UTC)"):
        expect(page.get_by_role("img", name=chart)).to_be_visible()
    # Chart labels do not run into each other (the service names are long for their bars).
    overlaps = page.evaluate("""() => [...document.querySelectorAll('figure.chart svg')].flatMap((svg) => {
        const boxes = [...svg.querySelectorAll('text')].map((t) => t.getBoundingClientRect());
        return boxes.slice(1).filter((b, i) => {
            const a = boxes[i];
            return a.right > b.left + 0.5 && a.left < b.right - 0.5 && a.bottom > b.top + 0.5 && a.top < b.bottom - 0.5;
        }).map(() => svg.getAttribute('aria-labelledby'));
    })""")
    assert not overlaps, overlaps
    screens.capture("admin")

    # A change the API refuses (an admin demoting themself: 409) is put back in the table.
    page.get_by_role("combobox", name="Status").select_option("")
    page.get_by_label("E-mail contains").fill(ADMIN_EMAIL)
    page.get_by_role("button", name="Filter users").click()
    own_role = page.get_by_role("combobox", name=f"Role of {ADMIN_EMAIL}")
    watch.expect(409)
    own_role.select_option("user")
    expect(page.get_by_role("alert").filter(has_text=re.compile("demote", re.I))).to_be_visible()
    expect(own_role).to_have_value("admin")
    watch.check()
