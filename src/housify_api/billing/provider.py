"""The payment provider interface: what Housify needs of one, so a card provider can follow BTCPay.

A provider creates invoices for an amount in a fiat currency, reports an
invoice's state when asked (the authority a webhook is checked against), and
authenticates its webhooks. States are Housify's words for the provider's:
``new`` (unpaid), ``processing`` (paid, awaiting confirmation), ``settled``,
``expired``, ``invalid``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol
from uuid import UUID

import msgspec

InvoiceState = Literal["new", "processing", "settled", "expired", "invalid"]


class ProviderError(Exception):
    """The provider cannot be reached or answered unusably (the API answers 503 and logs it)."""


class WebhookRejected(Exception):
    """A webhook that is not the provider's: unsigned, wrongly signed or malformed (401, logged, nothing changed)."""


class InvoiceRequest(msgspec.Struct, kw_only=True, frozen=True):
    """What to invoice. ``amount`` in ``currency`` (ISO 4217, e.g. ``USD``); ``order_id`` comes back in webhooks."""

    order_id: UUID
    amount: Decimal
    currency: str
    description: str
    buyer_email: str
    redirect_url: str
    expiration_minutes: int


class Invoice(msgspec.Struct, kw_only=True, frozen=True):
    """An invoice as the provider holds it now."""

    id: str
    state: InvoiceState
    amount: Decimal
    currency: str
    checkout_url: str
    expires_at: datetime | None = None


class WebhookEvent(msgspec.Struct, kw_only=True, frozen=True):
    """An authenticated webhook delivery.

    ``delivery_id`` names the delivery once (a provider's redelivery carries the original's id in
    ``original_delivery_id``); ``invoice_id`` is empty for events about something else.
    """

    delivery_id: str
    original_delivery_id: str
    event_type: str
    invoice_id: str


class PaymentProvider(Protocol):
    """A payment provider. ``name`` is stored on each order (``btcpay``)."""

    name: str

    async def create_invoice(self, request: InvoiceRequest) -> Invoice:
        """Create an invoice. Raises :class:`ProviderError`."""
        ...

    async def get_invoice(self, invoice_id: str) -> Invoice:
        """The invoice's current state. Raises :class:`ProviderError` (also for an unknown id)."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Authenticate and decode a delivery. Raises :class:`WebhookRejected`."""
        ...

    async def aclose(self) -> None: ...
