"""The stand-in's validator is not vacuous: BTCPay's schemas refuse what BTCPay would refuse."""

from __future__ import annotations

from billing.standin import Greenfield


def test_greenfield_schemas_accept_housifys_request_and_refuse_bad_ones() -> None:
    greenfield = Greenfield()
    good = {
        "amount": "9.99",
        "currency": "USD",
        "metadata": {"orderId": "o-1", "itemDesc": "Housify Pro-Tier, 30 days", "buyerEmail": "a@example.com"},
        "checkout": {
            "expirationMinutes": 60,
            "redirectURL": "https://h.example/#/plans",
            "redirectAutomatically": True,
        },
    }
    assert greenfield.errors("CreateInvoiceRequest", good) == []
    assert greenfield.errors("CreateInvoiceRequest", {**good, "amountUsd": "9.99"})  # unknown field
    assert greenfield.errors("CreateInvoiceRequest", {**good, "amount": "nine"})  # not a decimal
    assert greenfield.errors("CreateInvoiceRequest", {**good, "checkout": {"expirationMinutes": "soon"}})
    assert greenfield.errors(
        "CreateInvoiceRequest", {**good, "checkout": {"speedPolicy": "Instant"}}
    )  # not in the enum


def test_greenfield_schemas_check_answers_and_events() -> None:
    greenfield = Greenfield()
    invoice = {
        "id": "inv",
        "storeId": "s",
        "amount": "9.99",
        "currency": "USD",
        "status": "Settled",
        "checkoutLink": "https://pay/i/inv",
        "createdTime": 1,
        "expirationTime": 2,
        "metadata": {},
    }
    assert greenfield.errors("InvoiceData", invoice) == []
    assert greenfield.errors("InvoiceData", {**invoice, "status": "Paid"})  # Greenfield has no "Paid"
    event = {
        "deliveryId": "d",
        "webhookId": "w",
        "originalDeliveryId": "d",
        "isRedelivery": False,
        "type": "InvoiceSettled",
        "timestamp": 1,
        "storeId": "s",
        "invoiceId": "inv",
        "metadata": {},
        "manuallyMarked": False,
        "overPaid": False,
    }
    assert greenfield.errors("WebhookInvoiceSettledEvent", event) == []
    assert greenfield.errors("WebhookInvoiceSettledEvent", {**event, "timestamp": "yesterday"})
    assert greenfield.errors("WebhookInvoiceSettledEvent", {**event, "signature": "x"})  # closed object
