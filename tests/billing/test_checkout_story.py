"""The whole paid-plan story against the Greenfield stand-in: order -> invoice -> settled webhook -> Pro ->
period ends -> back to Free; and the webhooks that must change nothing (forged, unsigned, duplicated,
replayed), plus expired, invalid and mismatched invoices. Every request and answer of the stand-in
is validated against BTCPay Server's OpenAPI documents (``standin.violations`` stays empty)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from apikit import Accounts
from billing.kit import as_user, checkout, level_of, mail

pytestmark = pytest.mark.timeout(120)


async def test_pay_upgrade_period_ends_back_to_free(billing_api, http, accounts: Accounts, clock, smtp_server) -> None:
    standin = billing_api.standin
    ana = await accounts.user()

    # Choosing Pro makes an order and an invoice at Pro's price in USD, and changes nothing yet.
    order = await checkout(http, ana)
    assert order["amount"] == "9.99" and order["currency"] == "USD" and order["provider"] == "btcpay"
    assert order["checkout_url"].startswith(standin.base_url + "/i/")
    invoice = standin.invoice_for_order(order["id"])
    assert invoice["amount"] == "9.99" and invoice["currency"] == "USD"
    assert await level_of(http, ana) == "Free-Tier"
    # Choosing again reuses the open order (one invoice, not two).
    again = await as_user(http, ana, "PUT", "/users/me/subscription", json={"subscription_level": "Pro-Tier"})
    assert again.json()["order"]["id"] == order["id"]

    # Paid, waiting for confirmations: still Free, the order says so.
    processing = await standin.set_status(invoice["id"], "Processing")
    assert processing is not None and processing.status_code == 200, processing.answer
    status = (await as_user(http, ana, "GET", "/users/me/subscription")).json()
    assert status["order"]["state"] == "processing" and status["level"] == "Free-Tier"

    # Settled: Pro for the level's period from now, a receipt mail.
    settled = await standin.set_status(invoice["id"], "Settled")
    assert settled is not None and settled.status_code == 200 and "settled" in settled.answer
    assert await level_of(http, ana) == "Pro-Tier"
    status = (await as_user(http, ana, "GET", "/users/me/subscription")).json()
    assert status["order"] is None and status["period"]["level"] == "Pro-Tier"
    assert datetime.fromisoformat(status["period"]["ends_at"]) == clock.now + timedelta(days=30)
    receipt = await mail(smtp_server, ana.email, "receipt")
    assert "9.99 USD" in receipt.get_payload() and order["id"] in receipt.get_payload()

    # The orders list shows it settled with its period.
    orders = (await as_user(http, ana, "GET", "/users/me/orders")).json()
    assert orders["total"] == 1 and orders["items"][0]["state"] == "settled"
    assert orders["items"][0]["checkout_url"] is None and orders["items"][0]["period_end"] is not None

    # One second before the end: a renewal invoice has been made and mailed, nothing else.
    end = datetime.fromisoformat(orders["items"][0]["period_end"])
    clock.now = end - timedelta(seconds=1)
    report = await billing_api.billing.sweep()
    assert (report.renewals.count(ana.id), report.ended.count(ana.id)) == (1, 0)
    assert await level_of(http, ana) == "Pro-Tier"
    renewal_mail = await mail(smtp_server, ana.email, "Renew")
    assert standin.base_url + "/i/" in renewal_mail.get_payload()
    # At the end, the renewal unpaid: Free again.
    clock.advance(seconds=1)
    report = await billing_api.billing.sweep()
    assert report.ended.count(ana.id) == 1 and await level_of(http, ana) == "Free-Tier"
    # A second sweep (another instance) does nothing more.
    assert ana.id not in (await billing_api.billing.sweep()).ended
    assert standin.violations == []


async def test_webhooks_that_change_nothing(billing_api, http, accounts: Accounts, clock, caplog) -> None:
    standin = billing_api.standin
    bo = await accounts.user()
    order = await checkout(http, bo)
    invoice = standin.invoice_for_order(order["id"])
    body = standin.event_body(invoice, "InvoiceSettled")

    # Unsigned, wrongly signed (other secret), signature of another body: 401, logged, still Free.
    unsigned = await standin.deliver(body, signature=None)
    forged = await standin.deliver(body, signature=standin.sign(json.dumps(body).encode(), secret="guess"))
    swapped = await standin.deliver(body, signature=standin.sign(b"{}"))
    assert [unsigned.status_code, forged.status_code, swapped.status_code] == [401, 401, 401]
    assert "webhook" in caplog.text and "rejected" in caplog.text
    # Correctly signed "settled" event while BTCPay says the invoice is still New: read back, nothing.
    premature = await standin.deliver(body)
    assert premature.status_code == 200 and "not paid" in premature.answer
    assert await level_of(http, bo) == "Free-Tier"
    # An invoice Housify never made: ignored.
    stranger = standin._new_invoice({"amount": "9.99", "currency": "USD"})
    stranger["status"] = "Settled"
    unknown = await standin.deliver(standin.event_body(stranger, "InvoiceSettled"))
    assert unknown.status_code == 200 and "unknown invoice" in unknown.answer

    # Now really settled: once. The same delivery again, a redelivery and a replay of the old event: no-ops.
    first = await standin.set_status(invoice["id"], "Settled")
    assert first is not None and first.answer.count("settled") == 1
    assert await level_of(http, bo) == "Pro-Tier"
    period = (await as_user(http, bo, "GET", "/users/me/subscription")).json()["period"]
    duplicate = await standin.deliver(json.loads(first.body))
    redelivered = await standin.redeliver(first)
    replayed = await standin.deliver(standin.event_body(invoice, "InvoiceSettled"))
    assert "duplicate" in duplicate.answer and "duplicate" in redelivered.answer
    assert replayed.status_code == 200 and "already settled" in replayed.answer
    after = (await as_user(http, bo, "GET", "/users/me/subscription")).json()["period"]
    assert after == period  # not extended by the replay
    assert standin.violations == []


@pytest.mark.parametrize("status", ["Expired", "Invalid"])
async def test_expired_or_invalid_invoice_ends_the_order(billing_api, http, accounts: Accounts, clock, status) -> None:
    standin = billing_api.standin
    cy = await accounts.user()
    order = await checkout(http, cy)
    invoice = standin.invoice_for_order(order["id"])
    delivery = await standin.set_status(invoice["id"], status)
    assert delivery is not None and delivery.status_code == 200
    mine = (await as_user(http, cy, "GET", f"/users/me/orders/{order['id']}")).json()
    assert mine["state"] == status.lower() and mine["state_reason"] and mine["checkout_url"] is None
    assert await level_of(http, cy) == "Free-Tier"
    # A later settlement of an invalid invoice never upgrades; a new checkout makes a new order.
    if status == "Invalid":
        invoice["status"] = "Settled"
        late = await standin.deliver(standin.event_body(invoice, "InvoiceSettled"))
        assert "unchanged" in late.answer and await level_of(http, cy) == "Free-Tier"
    assert (await checkout(http, cy))["id"] != order["id"]
    assert standin.violations == []


async def test_amount_mismatch_is_not_a_payment(billing_api, http, accounts: Accounts, clock) -> None:
    standin = billing_api.standin
    di = await accounts.user()
    order = await checkout(http, di)
    invoice = standin.invoice_for_order(order["id"])
    invoice["amount"] = "0.01"  # someone edited the invoice in BTCPay
    await standin.set_status(invoice["id"], "Settled")
    mine = (await as_user(http, di, "GET", f"/users/me/orders/{order['id']}")).json()
    assert mine["state"] == "invalid" and "does not match" in mine["state_reason"]
    assert await level_of(http, di) == "Free-Tier"


async def test_provider_down_is_503_and_changes_nothing(billing_api, http, accounts: Accounts, clock) -> None:
    standin = billing_api.standin
    ed = await accounts.user()
    standin.down = True
    try:
        response = await as_user(http, ed, "PUT", "/users/me/subscription", json={"subscription_level": "Pro-Tier"})
    finally:
        standin.down = False
    assert response.status_code == 503 and "payment provider" in response.json()["detail"]
    assert await level_of(http, ed) == "Free-Tier"
    # A webhook that cannot be read back is 503 (BTCPay retries) and is handled on the retry.
    order = await checkout(http, ed)
    invoice = standin.invoice_for_order(order["id"])
    standin.down = True
    try:
        failed = await standin.set_status(invoice["id"], "Settled")
    finally:
        standin.down = False
    assert failed is not None and failed.status_code == 503
    retried = await standin.redeliver(failed)
    assert retried.status_code == 200 and "settled" in retried.answer
    assert await level_of(http, ed) == "Pro-Tier"


async def test_api_key_cannot_change_the_plan(billing_api, http, accounts: Accounts) -> None:
    fay = await accounts.user()
    key = (await http.post("/users/me/api-keys", json={"name": "ci"}, headers=fay.headers)).json()["key"]
    response = await http.put(
        "/users/me/subscription", json={"subscription_level": "Pro-Tier"}, headers={"X-API-Key": key}
    )
    assert response.status_code == 403
    assert (await as_user(http, fay, "GET", "/users/me/orders")).json()["total"] == 0


async def test_payments_off_paid_levels_are_granted_only(unpaid_api, migrated_db) -> None:
    from apikit import login, register

    async with httpx.AsyncClient(base_url=unpaid_api.base_url) as client:
        info = (await client.get("/billing")).json()
        assert info["payments"] is False and "administrator" in info["message"]
        email = await register(client)
        tokens = await login(client, email)
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        response = await client.put("/users/me/subscription", json={"subscription_level": "Pro-Tier"}, headers=headers)
        assert response.status_code == 403 and "administrator can grant" in response.json()["detail"]
        assert (await client.get("/users/me", headers=headers)).json()["subscription_level"] == "Free-Tier"
        # The free level still works without payments.
        same = await client.put("/users/me/subscription", json={"subscription_level": "Free-Tier"}, headers=headers)
        assert same.status_code == 200 and same.json()["outcome"] == "unchanged"


def test_price_is_decimal_not_float() -> None:
    from housify_api.plans.service import DEFAULT_LEVELS

    assert isinstance(DEFAULT_LEVELS[1].price_usd, Decimal)


async def test_order_keeps_housifys_quote_beside_the_usd_price(
    billing_api, http, accounts: Accounts, clock, smtp_server
) -> None:
    """The order is in USD; Housify's own SOAP quote (here a stand-in of the rates client) is stored beside it,
    shown in the order and the receipt. A rates service that fails leaves the order without a quote."""
    import msgspec

    from housify_api.crypto_quotes import Quote, QuoteUnavailable

    class Rates:
        fail = False

        async def convert(self, amount: Decimal, source: str, target: str) -> Quote:
            if self.fail:
                raise QuoteUnavailable("rates service down")
            assert (source, target) == ("USD", "BTC")
            return Quote(
                amount=amount * Decimal("0.00001"), rate=Decimal("0.00001"), symbol="BTCUSDT", fetched_at=clock.now
            )

    billing = billing_api.billing
    rates = Rates()
    saved = billing.quotes, billing.settings
    billing.quotes, billing.settings = rates, msgspec.structs.replace(billing.settings, quote_currency="BTC")
    try:
        val = await accounts.user()
        order = await checkout(http, val)
        rates.fail = True
        wes = await accounts.user()
        unquoted = await checkout(http, wes)
    finally:
        billing.quotes, billing.settings = saved
    assert order["amount"] == "9.99" and order["currency"] == "USD"
    assert order["quote"]["currency"] == "BTC" and Decimal(order["quote"]["amount"]) == Decimal("0.0000999")
    assert Decimal(order["quote"]["rate"]) == Decimal("0.00001")
    assert unquoted["quote"] is None and unquoted["state"] == "pending"
    await billing_api.standin.set_status(billing_api.standin.invoice_for_order(order["id"])["id"], "Settled")
    receipt = await mail(smtp_server, val.email, "receipt")
    assert "0.0000999 BTC" in receipt.get_payload()


async def test_two_clicks_at_once_make_one_order(billing_api, http, accounts: Accounts, clock) -> None:
    xia = await accounts.user()
    answers = await asyncio.gather(
        *(
            as_user(http, xia, "PUT", "/users/me/subscription", json={"subscription_level": "Pro-Tier"})
            for _ in range(3)
        )
    )
    assert [a.status_code for a in answers] == [200, 200, 200]
    orders = (await as_user(http, xia, "GET", "/users/me/orders")).json()
    assert orders["total"] == 1 and len({a.json()["order"]["id"] for a in answers}) == 1
