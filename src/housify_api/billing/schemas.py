"""Bodies of the billing routes (msgspec Structs at the edges). Money is a decimal string in JSON."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from housify_api.schemas import NO_NUL, Input, Output

OrderState = Literal["pending", "processing", "settled", "expired", "invalid", "cancelled"]
#: States in which an order still waits for the payment.
OPEN_STATES: tuple[OrderState, ...] = ("pending", "processing")
Outcome = Literal["unchanged", "checkout", "scheduled", "cancelled_change", "changed"]
LevelName = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class Quote(Output):
    """Housify's own quote of the order's price in ``currency`` (through housify-soap), for the user's information:
    the provider prices the crypto itself at payment time."""

    currency: str
    amount: Decimal
    rate: Decimal
    quoted_at: datetime


class OrderOut(Output):
    """An order. ``amount`` in ``currency`` (USD); ``checkout_url`` is where to pay while the order is open.

    ``state``: ``pending`` (waiting for payment), ``processing`` (paid, awaiting confirmation),
    ``settled`` (paid: the level runs ``period_start``..``period_end``), ``expired`` (not paid in time),
    ``invalid`` (the provider refused the payment, or it did not match the order), ``cancelled``
    (the account was deleted). ``state_reason`` says why in words.
    """

    id: UUID
    level: str
    kind: Literal["checkout", "renewal"]
    state: OrderState
    state_reason: str
    provider: str
    amount: Decimal
    currency: str
    period_days: int
    checkout_url: str | None
    quote: Quote | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    settled_at: datetime | None
    period_start: datetime | None
    period_end: datetime | None


class PeriodOut(Output):
    """The running paid period: ``level`` until ``ends_at`` (UTC); then ``next_level`` (the free level unless
    renewed, or the level a downgrade asked for). ``source``: ``order`` (paid) or ``grant`` (an admin's)."""

    level: str
    source: Literal["order", "grant"]
    started_at: datetime
    ends_at: datetime
    next_level: str
    renews: bool


class SubscriptionStatus(Output):
    """``GET``/``PUT /users/me/subscription``: the level now, its period, the open order and what just happened.

    ``payments``: whether this server takes payments; when false paid levels are granted by an admin only.
    ``outcome``: ``unchanged``, ``checkout`` (pay at ``order.checkout_url``; the level changes when the
    invoice settles), ``scheduled`` (the change happens at the period's end), ``cancelled_change``,
    ``changed`` (a move to the free level without a paid period: at once).
    """

    level: str
    period: PeriodOut | None
    order: OrderOut | None
    payments: bool
    outcome: Outcome
    message: str


class BillingInfo(Output):
    """``GET /billing``: whether paid levels can be bought here (``payments``) and through which provider."""

    payments: bool
    provider: str | None
    message: str


class LevelPatch(Input):
    """``PATCH /admin/levels/{name}``: any subset of a level's settings.

    Limits apply at once to everyone on the level; ``price_usd`` and ``period_days`` to new orders.
    """

    #: USD, 0 to 99,999,999.99 with at most two decimals (msgspec cannot bound a Decimal: checked by the service).
    price_usd: Decimal | msgspec.UnsetType = msgspec.UNSET
    period_days: Annotated[int, msgspec.Meta(ge=1, le=3660)] | msgspec.UnsetType = msgspec.UNSET
    requests_hour: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | msgspec.UnsetType = msgspec.UNSET
    upload_size_limit_mb: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | msgspec.UnsetType = msgspec.UNSET
    storage_limit_gb: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | msgspec.UnsetType = msgspec.UNSET
    api_key_limit: Annotated[int, msgspec.Meta(ge=0, le=1000)] | msgspec.UnsetType = msgspec.UNSET
    its: Annotated[float, msgspec.Meta(gt=0, le=1000)] | msgspec.UnsetType = msgspec.UNSET
    watermark: bool | msgspec.UnsetType = msgspec.UNSET


class GrantIn(Input):
    """``POST /admin/users/{id}/grants``: give ``level`` for ``days`` (default: the level's period) without
    payment. A grant of the free level ends the running period now."""

    level: LevelName
    days: Annotated[int, msgspec.Meta(ge=1, le=3660)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)] = ""


class AuditOut(Output):
    """One audited admin action: ``action`` (``level_edit`` or ``grant``), on ``target`` (a level name or a
    user id), by ``actor_email`` at ``at``, with the values ``before`` and ``after``."""

    id: UUID
    action: str
    target: str
    actor: UUID | None
    actor_email: str
    at: datetime
    before: dict[str, object]
    after: dict[str, object]
    note: str


class SweepReport(msgspec.Struct, kw_only=True):
    """What one sweep did, for logs and tests: users whose renewal invoice it made, users whose period
    it ended, and how many expired open orders it read back."""

    renewals: list[UUID] = msgspec.field(default_factory=list)
    ended: list[UUID] = msgspec.field(default_factory=list)
    orders_checked: int = 0
