"""BTCPay Server's Greenfield API as a :class:`~housify_api.billing.provider.PaymentProvider`.

Shapes follow BTCPay Server's OpenAPI documents (repository
btcpayserver/btcpayserver, ``BTCPayServer/wwwroot/swagger/v1/swagger.template.invoices.json``
and ``swagger.template.webhooks.json``; the test stand-in validates every request
and answer against copies of them, tests/billing/greenfield/):

* ``POST /api/v1/stores/{storeId}/invoices`` (``CreateInvoiceRequest`` -> ``InvoiceData``),
  authenticated with ``Authorization: token <API key>``;
* ``GET /api/v1/invoices/{invoiceId}`` (``InvoiceData``);
* webhooks: a JSON ``WebhookInvoice*Event`` body with ``BTCPay-Sig: sha256=<hex>``, the
  HMAC-SHA256 of the body's bytes keyed with the webhook's secret (UTF-8), compared in
  constant time (``hmac.compare_digest``).

Amounts travel as decimal strings ("9.99"), never floats.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import httpx
import msgspec

from housify_api.billing.provider import (
    Invoice,
    InvoiceRequest,
    InvoiceState,
    ProviderError,
    WebhookEvent,
    WebhookRejected,
)

log = logging.getLogger("housify_api.billing.btcpay")

#: Greenfield ``InvoiceStatus`` -> Housify's invoice state.
_STATES: dict[str, InvoiceState] = {
    "New": "new",
    "Processing": "processing",
    "Settled": "settled",
    "Expired": "expired",
    "Invalid": "invalid",
}
SIGNATURE_HEADER = "btcpay-sig"


class _InvoiceData(msgspec.Struct, rename="camel"):
    """The fields Housify reads of Greenfield's ``InvoiceData``."""

    id: str
    status: str
    amount: str
    currency: str
    checkout_link: str = ""
    expiration_time: int | None = None


class _Event(msgspec.Struct, rename="camel"):
    """The fields Housify reads of Greenfield's ``WebhookEvent`` / ``WebhookInvoiceEvent``."""

    delivery_id: str
    type: str
    original_delivery_id: str | None = None
    store_id: str | None = None
    invoice_id: str | None = None


def signature(secret: str, body: bytes) -> str:
    """The ``BTCPay-Sig`` value of ``body``: ``sha256=`` + hex HMAC-SHA256 keyed with ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class BTCPayProvider:
    """Greenfield client for one store.

    Args:
        url: the server's base URL; store_id, api_key, webhook_secret: as configured (docs/billing.md).
        transport: an httpx transport (tests); ``None`` for the network.
    """

    name = "btcpay"

    def __init__(
        self,
        url: str,
        store_id: str,
        api_key: str,
        webhook_secret: str,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store_id = store_id
        self._secret = webhook_secret
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"token {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            transport=transport,
        )

    async def _call(self, method: str, path: str, body: object = None) -> _InvoiceData:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ProviderError(f"BTCPay {method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise ProviderError(f"BTCPay {method} {path}: HTTP {response.status_code} {response.text[:300]}")
        try:
            return msgspec.json.decode(response.content, type=_InvoiceData)
        except msgspec.DecodeError as exc:
            raise ProviderError(f"BTCPay {method} {path}: unexpected answer: {exc}") from exc

    @staticmethod
    def _invoice(data: _InvoiceData) -> Invoice:
        state = _STATES.get(data.status)
        if state is None:
            raise ProviderError(f"BTCPay invoice {data.id}: unknown status {data.status!r}")
        try:
            amount = Decimal(data.amount)
        except InvalidOperation as exc:
            raise ProviderError(f"BTCPay invoice {data.id}: amount {data.amount!r} is not a decimal") from exc
        expires = datetime.fromtimestamp(data.expiration_time, UTC) if data.expiration_time else None
        return Invoice(
            id=data.id,
            state=state,
            amount=amount,
            currency=data.currency.upper(),
            checkout_url=data.checkout_link,
            expires_at=expires,
        )

    async def create_invoice(self, request: InvoiceRequest) -> Invoice:
        """``Invoices_CreateInvoice``; the order id travels as ``metadata.orderId``."""
        body = {
            "amount": str(request.amount),
            "currency": request.currency,
            "metadata": {
                "orderId": str(request.order_id),
                "itemDesc": request.description,
                "buyerEmail": request.buyer_email,
            },
            "checkout": {
                "expirationMinutes": request.expiration_minutes,
                "redirectURL": request.redirect_url,
                "redirectAutomatically": True,
            },
        }
        return self._invoice(await self._call("POST", f"/api/v1/stores/{self.store_id}/invoices", body))

    async def get_invoice(self, invoice_id: str) -> Invoice:
        """``Invoices_GetInvoice``."""
        return self._invoice(await self._call("GET", f"/api/v1/invoices/{invoice_id}"))

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Check ``BTCPay-Sig`` over the raw body, then decode it.

        Raises:
            WebhookRejected: no or a wrong signature, a body that is not a Greenfield event,
                or an event of another store.
        """
        sent = headers.get(SIGNATURE_HEADER, "")
        if not sent:
            raise WebhookRejected("no BTCPay-Sig header")
        if not hmac.compare_digest(sent.strip().encode(), signature(self._secret, body).encode()):
            raise WebhookRejected("BTCPay-Sig does not match the body")
        try:
            event = msgspec.json.decode(body, type=_Event)
        except msgspec.DecodeError as exc:
            raise WebhookRejected(f"not a Greenfield webhook event: {exc}") from exc
        if event.store_id is not None and event.store_id != self.store_id:
            raise WebhookRejected(f"event of another store ({event.store_id!r})")
        return WebhookEvent(
            delivery_id=event.delivery_id,
            original_delivery_id=event.original_delivery_id or event.delivery_id,
            event_type=event.type,
            invoice_id=event.invoice_id or "",
        )

    async def aclose(self) -> None:
        await self._http.aclose()
