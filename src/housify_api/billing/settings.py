"""Settings of the billing domain (``ApiSettings.billing``; docs/configuration.md "Billing").

The BTCPay store is connected when all four ``HOUSIFY_BTCPAY_*`` are set; with
none set, payments are off and paid levels are reached by an admin's grant only.
Secrets may be files (``HOUSIFY_BTCPAY_API_KEY_FILE``, ``HOUSIFY_BTCPAY_WEBHOOK_SECRET_FILE``).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from housify_common.settings import SettingsError

_BTCPAY = ("btcpay_url", "btcpay_store_id", "btcpay_api_key", "btcpay_webhook_secret")


class BillingSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Each field's variable is ``HOUSIFY_`` + its encoded name in upper case."""

    #: ``HOUSIFY_BTCPAY_URL``: base URL of the BTCPay Server (e.g. ``https://pay.example.org``).
    btcpay_url: str = ""
    #: ``HOUSIFY_BTCPAY_STORE_ID``: the store whose invoices Housify creates.
    btcpay_store_id: str = ""
    #: ``HOUSIFY_BTCPAY_API_KEY(_FILE)``: a Greenfield API key with ``btcpay.store.cancreateinvoice``
    #: and ``btcpay.store.canviewinvoices`` on that store.
    btcpay_api_key: str = ""
    #: ``HOUSIFY_BTCPAY_WEBHOOK_SECRET(_FILE)``: the store webhook's secret (``BTCPay-Sig`` HMAC key).
    btcpay_webhook_secret: str = ""
    #: ``HOUSIFY_BTCPAY_TIMEOUT_SECONDS``: timeout of one Greenfield call.
    btcpay_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    #: ``HOUSIFY_BILLING_INVOICE_MINUTES``: how long an invoice can be paid (BTCPay ``expirationMinutes``).
    invoice_minutes: Annotated[int, msgspec.Meta(ge=1, le=10080)] = msgspec.field(
        default=60, name="billing_invoice_minutes"
    )
    #: ``HOUSIFY_BILLING_RENEWAL_LEAD_HOURS``: the renewal invoice is made and mailed this long before a
    #: period ends (at most half the period, so a short period still gets one).
    renewal_lead_hours: Annotated[float, msgspec.Meta(gt=0)] = msgspec.field(
        default=72.0, name="billing_renewal_lead_hours"
    )
    #: ``HOUSIFY_BILLING_SWEEP_SECONDS``: how often each API instance looks for periods that end or renew.
    sweep_seconds: Annotated[float, msgspec.Meta(gt=0)] = msgspec.field(default=60.0, name="billing_sweep_seconds")
    #: ``HOUSIFY_BILLING_QUOTE_CURRENCY``: the asset of Housify's own quote stored beside each order
    #: (through housify-soap); empty: no quote.
    quote_currency: str = msgspec.field(default="BTC", name="billing_quote_currency")

    @property
    def payments_enabled(self) -> bool:
        """True when a BTCPay store is connected."""
        return all(getattr(self, name) for name in _BTCPAY)

    def check(self) -> None:
        """Raise ``SettingsError`` naming the missing variables when the store is half configured."""
        given = [name for name in _BTCPAY if getattr(self, name)]
        if given and len(given) != len(_BTCPAY):
            missing = ", ".join(f"HOUSIFY_{name.upper()}" for name in _BTCPAY if name not in given)
            raise SettingsError(f"BTCPay store half configured: also set {missing} (or unset all four)")
