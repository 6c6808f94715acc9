"""No request path upgrades a level without a settled invoice or an admin's grant.

Walks every HTTP route of the app (from its route table, so a new route is walked too) as a Free-Tier
user, with a bearer token and with an API key, sending a body that asks for Pro-Tier in every way a
route could take it; then the user must still be on Free-Tier with no paid period. The admin routes
that change levels are shown to leave an audit entry (a grant) for every change.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from apikit import Accounts
from billing.kit import as_user

pytestmark = pytest.mark.timeout(300)

#: Routes walked last or not at all because they end the walk's own credentials (not levels).
_ENDS_CREDENTIALS = {("POST", "/auth/logout"), ("POST", "/auth/logout-all"), ("DELETE", "/users/me")}
_PRO = "Pro-Tier"
#: Bodies asking for Pro-Tier: each field a route could take alone (closed bodies refuse unknown fields),
#: and all of them together.
_BODIES: list[dict[str, Any]] = [
    {"subscription_level": _PRO},
    {"level": _PRO, "days": 30},
    {"subscription_level": _PRO, "level": _PRO, "tier": _PRO, "name": _PRO, "plan": _PRO, "role": "admin"},
]


def _routes(app: Any) -> list[tuple[str, str]]:
    found = set()
    for route in app.routes:
        methods = getattr(route, "methods", set())
        for method in methods:
            if method in {"HEAD", "OPTIONS"} or "websocket" in type(route).__name__.lower():
                continue
            found.add((method, route.path))
    return sorted(found)


def _fill(path: str, user_id: uuid.UUID) -> str:
    def value(match: re.Match[str]) -> str:
        name, _, kind = match.group(1).partition(":")
        if kind == "uuid":
            return str(user_id) if "user" in name else str(uuid.uuid4())
        if "name" in name or "level" in name:
            return _PRO
        return "x"

    return re.sub(r"\{([^}]+)\}", value, path)


async def test_every_route_leaves_the_level_alone(billing_api, http, accounts: Accounts, admin) -> None:
    from housify_api.billing.tables import BillingAudit, BillingPeriod

    pat = await accounts.user()
    key = (await as_user(http, pat, "POST", "/users/me/api-keys", json={"name": "walk"})).json()["key"]
    routes = [r for r in _routes(billing_api.app) if r not in _ENDS_CREDENTIALS]
    assert ("PUT", "/users/me/subscription") in routes and ("POST", "/billing/btcpay/webhook") in routes
    statuses: dict[tuple[str, str, str], int] = {}
    credentials = {"bearer": pat.headers, "api_key": {"X-API-Key": key}, "anonymous": {}}
    for method, path in routes:
        url = _fill(path, pat.id)
        for body in _BODIES:
            for name, headers in credentials.items():
                response = await http.request(method, url, json=body, headers=headers)
                assert response.status_code < 500, (method, url, response.status_code, response.text[:300])
                statuses[(method, path, name)] = response.status_code
                assert await _level(pat) == "Free-Tier", (method, url, body, name, response.status_code)
    assert not await BillingPeriod.exists().where(BillingPeriod.user == pat.id)
    # The one user route that asks for a paid level made an order, and it waits for payment.
    orders = (await as_user(http, pat, "GET", "/users/me/orders")).json()["items"]
    assert [o["state"] for o in orders] == ["pending"]
    assert statuses[("PUT", "/users/me/subscription", "api_key")] == 403
    assert statuses[("PUT", "/users/me/subscription", "anonymous")] == 401
    assert {statuses[("POST", "/billing/btcpay/webhook", name)] for name in credentials} == {401}  # unsigned

    # Admin routes: a level change by an admin is always a grant, in the audit.
    admin_routes = [(m, p) for m, p in routes if p.startswith("/admin") and m != "GET"]
    changed_by = []
    for method, path in admin_routes:
        if method == "DELETE":
            continue  # deleting the walking user or a key ends the walk, not a level question
        before = await _level(pat)
        audits = await BillingAudit.count().where(BillingAudit.target == str(pat.id))
        await http.request(method, _fill(path, pat.id), json={"subscription_level": _PRO}, headers=admin)
        after = await _level(pat)
        if after != before:
            changed_by.append((method, path))
            assert await BillingAudit.count().where(BillingAudit.target == str(pat.id)) == audits + 1, (method, path)
    assert ("PATCH", "/admin/users/{user_id:uuid}") in changed_by  # the admin's level change, a grant


async def _level(user: Any) -> str:
    from housify_api.tables import User as Row

    row = await Row.select(Row.subscription_level).where(Row.id == user.id).first()
    return row["subscription_level"] if row else "(deleted)"


def test_walk_fill() -> None:
    user_id = uuid.uuid4()
    assert _fill("/admin/users/{user_id:uuid}/grants", user_id) == f"/admin/users/{user_id}/grants"
    assert _fill("/admin/levels/{name:str}", user_id) == "/admin/levels/Pro-Tier"
