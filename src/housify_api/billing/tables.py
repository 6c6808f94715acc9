"""piccolo tables of the billing app ``housify_billing``: orders, paid periods, webhook deliveries, audit.

Times are UTC (``Timestamptz``); ids are piccolo-made UUIDs, so the same
migrations run on PostgreSQL and SQLite. Money is ``Numeric`` (exact), never float.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    UUID,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from housify_api.tables import User


class BillingOrder(Table, tablename="billing_orders"):
    """One payment asked of a user: a first checkout (``kind="checkout"``) or a renewal (``kind="renewal"``).

    ``state``: ``pending`` (invoice open) -> ``settled`` | ``expired`` | ``invalid`` | ``cancelled``.
    ``amount_usd``/``currency`` are what the invoice was created for and what a settlement must match;
    ``quote_*`` is Housify's own SOAP quote shown beside it (informational: the provider prices the crypto).
    ``period_days`` is the level's period when the order was made (an admin's later edit applies to new orders).
    The user reference is cleared when the account is deleted: orders are the merchant's records.
    """

    id = UUID(primary_key=True)
    user = ForeignKey(references=User, on_delete=OnDelete.set_null, null=True, index=True)
    level = Varchar(length=50)
    kind = Varchar(length=16, default="checkout")
    state = Varchar(length=16, default="pending", index=True)
    state_reason = Varchar(length=200, default="")
    provider = Varchar(length=32)
    invoice_id = Varchar(length=100, null=True, default=None, unique=True)
    checkout_url = Varchar(length=2000, default="")
    amount_usd = Numeric(digits=(10, 2))
    currency = Varchar(length=10, default="USD")
    period_days = Integer()
    quote_currency = Varchar(length=10, null=True, default=None)
    quote_amount = Numeric(digits=(20, 10), null=True, default=None)
    quote_rate = Numeric(digits=(30, 12), null=True, default=None)
    quoted_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz(null=True, default=None)
    settled_at = Timestamptz(null=True, default=None)
    period_start = Timestamptz(null=True, default=None)
    period_end = Timestamptz(null=True, default=None)


class BillingPeriod(Table, tablename="billing_periods"):
    """A user's running paid period (at most one row per user; none while on the free level).

    ``ends_at``: when the level falls back to ``next_level`` (the free level unless a downgrade
    to another paid level was asked for). ``renewal_order`` is the invoice made ahead of the end;
    ``renewal_claimed_at`` makes that happen once across API instances (compare-and-set).
    ``source``: ``order`` (paid) or ``grant`` (an admin's, no payment).
    """

    id = UUID(primary_key=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, unique=True)
    level = Varchar(length=50)
    source = Varchar(length=16)
    started_at = Timestamptz()
    ends_at = Timestamptz(index=True)
    next_level = Varchar(length=50, null=True, default=None)
    renewal_order = UUID(null=True, default=None)
    renewal_claimed_at = Timestamptz(null=True, default=None)


class BillingWebhookDelivery(Table, tablename="billing_webhook_deliveries"):
    """A provider's webhook delivery already handled (``delivery_id`` unique): redeliveries are no-ops."""

    id = UUID(primary_key=True)
    provider = Varchar(length=32)
    delivery_id = Varchar(length=100, unique=True)
    event_type = Varchar(length=50)
    invoice_id = Varchar(length=100, default="")
    outcome = Varchar(length=200, default="")
    received_at = Timestamptz(default=TimestamptzNow())


class BillingAudit(Table, tablename="billing_audit"):
    """Who changed a level or granted one, when, and the values before and after (JSON objects)."""

    id = UUID(primary_key=True)
    actor = UUID(null=True, default=None)
    actor_email = Varchar(length=320, default="")
    action = Varchar(length=32)
    target = Varchar(length=100)
    before = JSON(default="{}")
    after = JSON(default="{}")
    at = Timestamptz(default=TimestamptzNow(), index=True)
    note = Text(default="")
