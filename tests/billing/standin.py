"""A local stand-in for BTCPay Server's Greenfield API, checked against BTCPay's own OpenAPI documents.

Serves what Housify uses (``POST /api/v1/stores/{storeId}/invoices``, ``GET /api/v1/invoices/{invoiceId}``)
plus a checkout page (``GET /i/{id}``, its Pay button settles the invoice) for the browser story, and
delivers signed webhooks (``BTCPay-Sig: sha256=<HMAC-SHA256 of the body>``) to Housify like a store
webhook. Every request body Housify sends, every answer given and every webhook body is validated
against the schemas of ``greenfield/`` (copies of the repository's files; commit in
``greenfield/SOURCE.md``); a mismatch is kept in :attr:`GreenfieldStandIn.violations` (tests assert
it stays empty) and a bad request is answered 400 with ``ValidationProblemDetails`` like BTCPay.

Validation uses ``jsonschema_rs`` (installed with schemathesis, the API fuzz tests' tool).
OpenAPI 3.0 to JSON Schema: ``nullable: true`` becomes "or null"; an ``allOf`` composition is
validated as one object whose properties are all its branches' (NSwag's inheritance: a branch's
``additionalProperties: false`` in plain JSON Schema would otherwise forbid its siblings' properties).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

SCHEMA_DIR = Path(__file__).parent / "greenfield"
_FILES = ("swagger.template.json", "swagger.template.invoices.json", "swagger.template.webhooks.json")
_EVENT_SCHEMAS = {
    "InvoiceSettled": "WebhookInvoiceSettledEvent",
    "InvoiceExpired": "WebhookInvoiceExpiredEvent",
    "InvoiceInvalid": "WebhookInvoiceInvalidEvent",
    "InvoiceProcessing": "WebhookInvoiceProcessingEvent",
}
_STATUS_EVENTS = {
    "Settled": "InvoiceSettled",
    "Expired": "InvoiceExpired",
    "Invalid": "InvoiceInvalid",
    "Processing": "InvoiceProcessing",
}


def _load_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name in _FILES:
        schemas.update(json.loads((SCHEMA_DIR / name).read_text())["components"]["schemas"])
    return schemas


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable`` as JSON Schema, everywhere in ``node``."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable(value) for key, value in node.items() if not key.startswith("x-")}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


class Greenfield:
    """Validators for Greenfield's component schemas (by name)."""

    def __init__(self) -> None:
        self.schemas = _load_schemas()
        self._components = {name: _nullable(schema) for name, schema in self.schemas.items()}

    def _flat(self, name: str) -> dict[str, Any]:
        """The component ``name`` with its ``allOf`` folded into one object schema."""
        schema = self.schemas[name]
        properties: dict[str, Any] = {}
        required: list[str] = []
        closed = False

        def fold(part: dict[str, Any]) -> None:
            nonlocal closed
            if "$ref" in part:
                fold(self.schemas[part["$ref"].rsplit("/", 1)[-1]])
                return
            for sub in part.get("allOf", []):
                fold(sub)
            properties.update(part.get("properties", {}))
            required.extend(part.get("required", []))
            closed = closed or part.get("additionalProperties") is False

        fold(schema)
        flat: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            flat["required"] = sorted(set(required))
        if closed:
            flat["additionalProperties"] = False
        return _nullable(flat)

    def errors(self, name: str, instance: Any) -> list[dict[str, str]]:
        """Schema violations of ``instance`` as Greenfield ``ValidationProblemDetails`` items (empty: valid)."""
        schema = {**self._flat(name), "components": {"schemas": self._components}}
        validator = jsonschema_rs.Draft202012Validator(schema)
        problems = [
            {"path": "$." + ".".join(str(p) for p in error.instance_path), "message": error.message}
            for error in validator.iter_errors(instance)
        ]
        problems += _decimal_problems(self.schemas, name, instance)
        return problems


def _decimal_problems(schemas: dict[str, Any], name: str, instance: Any) -> list[dict[str, str]]:
    """``format: decimal`` strings must parse as decimals (JSON Schema does not assert formats)."""
    if not isinstance(instance, dict):
        return []
    problems = []
    for key in ("amount", "paidAmount"):
        value = instance.get(key)
        if isinstance(value, str):
            try:
                Decimal(value)
            except InvalidOperation:
                problems.append({"path": f"$.{key}", "message": f"{value!r} is not a decimal"})
    return problems


@dataclass
class Delivery:
    """One webhook delivery: the body sent, its headers, and Housify's answer."""

    body: bytes
    headers: dict[str, str]
    status_code: int = 0
    answer: str = ""


@dataclass
class GreenfieldStandIn:
    """The stand-in's state and its ASGI app (:meth:`app`). ``webhook_url`` is set once Housify runs."""

    store_id: str = "9CiNzKoANXxmk5ayZngSXrHTiVvvgCrwrpFQd4m2K776"
    api_key: str = field(default_factory=lambda: secrets.token_hex(20))
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    webhook_id: str = "Sx1eQ4P3HuTHxQ6CmtVr5a"
    base_url: str = ""
    webhook_url: str = ""
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: The stand-in's time (seconds since the epoch); tests share the billing service's clock.
    clock: Callable[[], float] = time.time
    #: Answer 503 to every API call while true (a provider outage).
    down: bool = False
    greenfield: Greenfield = field(default_factory=Greenfield)

    # -- checks ---------------------------------------------------------------------------

    def _check(self, what: str, schema: str, instance: Any) -> list[dict[str, str]]:
        problems = self.greenfield.errors(schema, instance)
        for problem in problems:
            self.violations.append(f"{what} vs {schema}: {problem['path']}: {problem['message']}")
        return problems

    def _authorized(self, request: Request[Any, Any, Any]) -> bool:
        return hmac.compare_digest(request.headers.get("authorization", ""), f"token {self.api_key}")

    # -- invoices ---------------------------------------------------------------------------

    def _new_invoice(self, body: dict[str, Any]) -> dict[str, Any]:
        invoice_id = secrets.token_urlsafe(16)[:22]
        now = int(self.clock())
        minutes = int((body.get("checkout") or {}).get("expirationMinutes") or 15)
        invoice = {
            "id": invoice_id,
            "storeId": self.store_id,
            "amount": body.get("amount") or "0",
            "paidAmount": "0",
            "currency": body.get("currency") or "USD",
            "type": "Standard",
            "checkoutLink": f"{self.base_url}/i/{invoice_id}",
            "createdTime": now,
            "expirationTime": now + minutes * 60,
            "monitoringExpiration": now + minutes * 60 + 86400,
            "status": "New",
            "additionalStatus": "None",
            "availableStatusesForManualMarking": ["Settled", "Invalid"],
            "archived": False,
            "metadata": body.get("metadata") or {},
            "checkout": body.get("checkout") or {},
            "receipt": None,
        }
        self.invoices[invoice_id] = invoice
        return invoice

    def answer(self, what: str, invoice: dict[str, Any]) -> Response[Any]:
        self._check(what, "InvoiceData", invoice)
        return Response(invoice, status_code=200)

    # -- webhooks -----------------------------------------------------------------------------

    def event_body(self, invoice: dict[str, Any], event_type: str, **extra: Any) -> dict[str, Any]:
        delivery_id = secrets.token_urlsafe(16)[:22]
        body: dict[str, Any] = {
            "deliveryId": delivery_id,
            "webhookId": self.webhook_id,
            "originalDeliveryId": delivery_id,
            "isRedelivery": False,
            "type": event_type,
            "timestamp": int(self.clock()),
            "storeId": self.store_id,
            "invoiceId": invoice["id"],
            "metadata": invoice["metadata"],
        }
        if event_type == "InvoiceSettled":
            body |= {"manuallyMarked": False, "overPaid": False}
        elif event_type == "InvoiceInvalid":
            body |= {"manuallyMarked": False}
        elif event_type == "InvoiceExpired":
            body |= {"partiallyPaid": False}
        elif event_type == "InvoiceProcessing":
            body |= {"overPaid": False}
        return body | extra

    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (self.webhook_secret if secret is None else secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    async def deliver(self, body: dict[str, Any] | bytes, *, signature: str | None = "valid") -> Delivery:
        """POST ``body`` to Housify as BTCPay does. ``signature``: ``"valid"``, ``None`` (no header) or a literal value."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if isinstance(body, dict):
            self._check(
                f"webhook {body.get('type')}", _EVENT_SCHEMAS.get(body.get("type", ""), "WebhookInvoiceEvent"), body
            )
        headers = {"Content-Type": "application/json", "User-Agent": "BTCPayServer"}
        if signature == "valid":
            headers["BTCPay-Sig"] = self.sign(raw)
        elif signature is not None:
            headers["BTCPay-Sig"] = signature
        delivery = Delivery(body=raw, headers=headers)
        async with httpx.AsyncClient(timeout=15.0) as client:
            response = await client.post(self.webhook_url, content=raw, headers=headers)
        delivery.status_code, delivery.answer = response.status_code, response.text
        self.deliveries.append(delivery)
        return delivery

    async def set_status(self, invoice_id: str, status: str, *, deliver: bool = True, **extra: Any) -> Delivery | None:
        """Move an invoice to ``status`` (``Processing``, ``Settled``, ``Expired``, ``Invalid``) and send its event."""
        invoice = self.invoices[invoice_id]
        invoice["status"] = status
        if status in ("Settled", "Processing"):
            invoice["paidAmount"] = invoice["amount"]
        if not deliver:
            return None
        return await self.deliver(self.event_body(invoice, _STATUS_EVENTS[status], **extra))

    async def redeliver(self, delivery: Delivery) -> Delivery:
        """BTCPay's redelivery: a new ``deliveryId``, ``isRedelivery`` and the original's id, signed again."""
        body = json.loads(delivery.body)
        body |= {"deliveryId": secrets.token_urlsafe(16)[:22], "isRedelivery": True}
        return await self.deliver(body)

    def invoice_for_order(self, order_id: str) -> dict[str, Any]:
        return next(i for i in self.invoices.values() if i["metadata"].get("orderId") == order_id)

    # -- the ASGI app ---------------------------------------------------------------------------

    def app(self) -> Litestar:
        standin = self

        @post("/api/v1/stores/{store_id:str}/invoices", status_code=200)
        async def create_invoice(request: Request[Any, Any, Any], store_id: FromPath[str]) -> Response[Any]:
            standin.requests.append(("POST", request.url.path))
            if standin.down:
                return Response({"code": "unavailable", "message": "down"}, status_code=503)
            if not standin._authorized(request):
                return Response({"code": "unauthenticated", "message": "bad API key"}, status_code=401)
            if store_id != standin.store_id:
                return Response(status_code=403, content=None)
            body = json.loads(await request.body())
            problems = standin._check("POST invoices request", "CreateInvoiceRequest", body)
            if problems:
                return Response(problems, status_code=400)
            return standin.answer("POST invoices answer", standin._new_invoice(body))

        @get("/api/v1/invoices/{invoice_id:str}")
        async def get_invoice(request: Request[Any, Any, Any], invoice_id: FromPath[str]) -> Response[Any]:
            standin.requests.append(("GET", request.url.path))
            if standin.down:
                return Response({"code": "unavailable", "message": "down"}, status_code=503)
            if not standin._authorized(request):
                return Response({"code": "unauthenticated", "message": "bad API key"}, status_code=401)
            invoice = standin.invoices.get(invoice_id)
            if invoice is None:
                return Response({"code": "invoice-not-found", "message": "not found"}, status_code=404)
            return standin.answer("GET invoice answer", copy.deepcopy(invoice))

        @get("/i/{invoice_id:str}", media_type="text/html")
        async def checkout_page(invoice_id: FromPath[str]) -> str:
            invoice = standin.invoices[invoice_id]
            return (
                "<!doctype html><html lang=en><title>BTCPay stand-in checkout</title><link rel=icon href='data:,'><main>"
                f"<h1>Pay {invoice['amount']} {invoice['currency']}</h1><p>Invoice {invoice_id}: {invoice['status']}</p>"
                f"<form method=post action='/i/{invoice_id}/pay'><button type=submit>Pay invoice</button></form></main>"
            )

        @post("/i/{invoice_id:str}/pay", status_code=303)
        async def pay(invoice_id: FromPath[str]) -> Redirect:
            await standin.set_status(invoice_id, "Settled")
            target = (standin.invoices[invoice_id]["checkout"] or {}).get("redirectURL") or "/"
            return Redirect(target, status_code=303)

        return Litestar([create_invoice, get_invoice, checkout_page, pay], debug=False)


def main() -> None:
    """Serve the stand-in alone for a walk by hand:

        PYTHONPATH=tests python -m billing.standin --port 9400 --webhook-url http://127.0.0.1:8000/billing/btcpay/webhook

    prints the ``HOUSIFY_BTCPAY_*`` settings to start housify-api with; ``POST /i/<invoice>/pay`` settles an
    invoice and delivers the signed webhook (the checkout page's Pay button does the same)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--webhook-url", required=True)
    args = parser.parse_args()
    standin = GreenfieldStandIn(base_url=f"http://127.0.0.1:{args.port}", webhook_url=args.webhook_url)
    print(f"HOUSIFY_BTCPAY_URL={standin.base_url}")
    print(f"HOUSIFY_BTCPAY_STORE_ID={standin.store_id}")
    print(f"HOUSIFY_BTCPAY_API_KEY={standin.api_key}")
    print(f"HOUSIFY_BTCPAY_WEBHOOK_SECRET={standin.webhook_secret}", flush=True)
    uvicorn.run(standin.app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
