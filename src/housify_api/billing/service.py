"""Orders, paid periods and renewals: every change of a user's level by payment or grant goes through here.

Rules (docs/billing.md):

* A paid level is reached only by a **settled invoice** (:meth:`BillingService.handle_webhook`,
  :meth:`BillingService.sweep`) or an **admin's grant** (``housify_api.billing.admin``). The webhook
  is authenticated (``BTCPay-Sig``) and then only a hint: the invoice is read back from the
  provider, whose state, amount and currency decide. Deliveries are recorded by id, so a
  redelivery does nothing; orders move by compare-and-set (``UPDATE ... WHERE state IN (...)
  RETURNING``), so a replayed or concurrent event cannot settle an order twice.
* A period runs ``period_days`` (the level's setting when the order was made) from settlement; paying
  again while it runs extends it from its end. ``renewal_lead_hours`` before the end a renewal
  invoice is made and mailed; unpaid, the account falls back to the free level at ``ends_at``.
  A downgrade asked for during a period happens at its end.
* At every level change the level's API key cap holds: the newest ``api_key_limit`` keys stay
  enabled, older ones are disabled (and enabled again, newest first, by a later upgrade).
* Exactly once across API instances: every instance sweeps every ``sweep_seconds``; each due
  renewal and period end is claimed by one conditional ``UPDATE``/``DELETE ... RETURNING`` on its
  row, which only one transaction can win (PostgreSQL row locking; SQLite serialises writers).
* Times are UTC, from the injected ``clock`` (tests drive it across a period's boundary).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec
from litestar.exceptions import NotFoundException, PermissionDeniedException, ServiceUnavailableException

from housify_api.accounts.api_keys import user_lock
from housify_api.auth.revocation import Revocations
from housify_api.billing.provider import (
    Invoice,
    InvoiceRequest,
    PaymentProvider,
    ProviderError,
    WebhookEvent,
)
from housify_api.billing.schemas import (
    OPEN_STATES,
    OrderOut,
    OrderState,
    Outcome,
    PeriodOut,
    Quote,
    SubscriptionStatus,
    SweepReport,
)
from housify_api.billing.settings import BillingSettings
from housify_api.billing.tables import BillingOrder, BillingPeriod, BillingWebhookDelivery
from housify_api.crypto_quotes import CryptoQuoteClient
from housify_api.email import Mailer
from housify_api.pagination import Page
from housify_api.plans.service import FREE_TIER, Level, LevelService
from housify_api.tables import ApiKey, User

if TYPE_CHECKING:
    from housify_api.settings import ApiSettings

log = logging.getLogger("housify_api.billing")

Clock = Callable[[], datetime]
#: A pending order whose invoice expired this long ago is read back from the provider by the sweep
#: (a lost webhook must not leave an order open, nor a payment unapplied).
STALE_ORDER_GRACE = timedelta(minutes=5)
_MONEY = Decimal("0.01")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _at(value: datetime) -> datetime:
    """A timestamp as aware UTC (SQLite may hand back naive ones)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """:func:`_at` of a nullable timestamp."""
    return None if value is None else _at(value)


def order_out(row: Mapping[str, Any]) -> OrderOut:
    """A ``billing_orders`` row as :class:`OrderOut` (``checkout_url`` only while the order is open)."""
    quote = None
    if row["quote_currency"] and row["quote_amount"] is not None and row["quote_rate"] is not None:
        quote = Quote(
            currency=row["quote_currency"],
            amount=Decimal(str(row["quote_amount"])).normalize(),
            rate=Decimal(str(row["quote_rate"])).normalize(),
            quoted_at=_at(row["quoted_at"] or row["created_at"]),
        )
    return OrderOut(
        id=row["id"],
        level=row["level"],
        kind=row["kind"],
        state=row["state"],
        state_reason=row["state_reason"],
        provider=row["provider"],
        amount=Decimal(str(row["amount_usd"])).quantize(_MONEY),
        currency=row["currency"],
        period_days=row["period_days"],
        checkout_url=row["checkout_url"] if row["state"] in OPEN_STATES else None,
        quote=quote,
        created_at=_at(row["created_at"]),
        updated_at=_at(row["updated_at"]),
        expires_at=_utc(row["expires_at"]),
        settled_at=_utc(row["settled_at"]),
        period_start=_utc(row["period_start"]),
        period_end=_utc(row["period_end"]),
    )


@dataclass(kw_only=True)
class BillingService:
    """Orders, periods, renewals and level changes.

    Args:
        levels: the level reader; mailer: receipts and renewal notices; revocations: ends access tokens
            that carry an old ``tier``; quotes: housify-soap (``None``: no quote stored);
        provider: the payment provider, ``None`` when payments are off (paid levels by grant only);
        settings: ``ApiSettings.billing``; public_url: where the web app is (the checkout's way back);
        clock: the current UTC time (tests pass a controllable one).
    """

    levels: LevelService
    mailer: Mailer
    revocations: Revocations
    settings: BillingSettings
    public_url: str
    provider: PaymentProvider | None = None
    quotes: CryptoQuoteClient | None = None
    clock: Clock = field(default=utc_now)

    # -- reading -------------------------------------------------------------------------

    @property
    def payments(self) -> bool:
        return self.provider is not None

    async def status(self, user_id: UUID, outcome: Outcome = "unchanged", message: str = "") -> SubscriptionStatus:
        """The user's level, running period and newest open order."""
        user = await User.select(User.subscription_level).where(User.id == user_id).first()
        if user is None:
            raise NotFoundException("user not found")
        period = await self._period(user_id)
        order = (
            await BillingOrder.select()
            .where((BillingOrder.user == user_id) & BillingOrder.state.is_in(list(OPEN_STATES)))
            .order_by(BillingOrder.created_at, ascending=False)
            .first()
        )
        return SubscriptionStatus(
            level=user["subscription_level"],
            period=_period_out(period) if period else None,
            order=order_out(order) if order else None,
            payments=self.payments,
            outcome=outcome,
            message=message or _describe(user["subscription_level"], period),
        )

    async def orders(self, user_id: UUID, *, limit: int, offset: int) -> Page[OrderOut]:
        """The user's orders, newest first (offset pages with ``total``)."""
        where = BillingOrder.user == user_id
        rows = (
            await BillingOrder.select()
            .where(where)
            .order_by(BillingOrder.created_at, ascending=False)
            .limit(limit)
            .offset(offset)
        )
        total = await BillingOrder.count().where(where)
        return Page(items=[order_out(row) for row in rows], total=total, limit=limit, offset=offset)

    async def order(self, user_id: UUID, order_id: UUID) -> OrderOut:
        """One of the user's orders (404 for someone else's)."""
        row = await BillingOrder.select().where((BillingOrder.id == order_id) & (BillingOrder.user == user_id)).first()
        if row is None:
            raise NotFoundException("order not found")
        return order_out(row)

    async def _period(self, user_id: UUID) -> dict[str, Any] | None:
        return await BillingPeriod.select().where(BillingPeriod.user == user_id).first()

    # -- the user's choice ----------------------------------------------------------------

    async def choose(self, user_id: UUID, level_name: str) -> SubscriptionStatus:
        """``PUT /users/me/subscription``: what choosing ``level_name`` does.

        * the level already held: cancels a scheduled change, otherwise nothing;
        * the free level, or a cheaper paid one, during a paid period: scheduled for the period's end;
        * the free level without a paid period: at once;
        * a paid level: an order and a provider invoice (an open order for it is reused); the level
          changes when the invoice settles.

        Raises:
            ValidationException: 400, unknown level (naming ``subscription_level``).
            PermissionDeniedException: 403, a paid level while payments are off (admins grant them).
            ServiceUnavailableException: 503, the provider cannot be reached (logged).
        """
        level = await self.levels.get(await self.levels.require_name(level_name))
        user = await User.select(User.subscription_level, User.email).where(User.id == user_id).first()
        if user is None:
            raise NotFoundException("user not found")
        current = await self.levels.get(user["subscription_level"])
        period = await self._period(user_id)
        if level.name == current.name:
            if period and period["next_level"]:
                await BillingPeriod.update({BillingPeriod.next_level: None}).where(BillingPeriod.id == period["id"])
                return await self.status(user_id, "cancelled_change", f"You stay on {level.name}; the change is off.")
            return await self.status(user_id, "unchanged", f"You are already on {level.name}.")
        if period and (not level.is_paid or level.price_usd < current.price_usd):
            await BillingPeriod.update({BillingPeriod.next_level: level.name}).where(BillingPeriod.id == period["id"])
            when = _at(period["ends_at"])
            return await self.status(
                user_id, "scheduled", f"You move to {level.name} when your period ends ({when:%Y-%m-%d %H:%M} UTC)."
            )
        if not level.is_paid:
            await self.apply_level(user_id, level)
            return await self.status(user_id, "changed", f"You are now on {level.name}.")
        if self.provider is None:
            raise PermissionDeniedException(
                f"{level.name} cannot be bought on this server (no payment provider is configured); "
                "an administrator can grant it"
            )
        # Under the user's row lock, so two clicks at once make one order; the invoice is made after it.
        async with user_lock(user_id):
            open_order = (
                await BillingOrder.select(BillingOrder.id)
                .where(
                    (BillingOrder.user == user_id)
                    & (BillingOrder.level == level.name)
                    & (BillingOrder.kind == "checkout")
                    & BillingOrder.state.is_in(list(OPEN_STATES))
                    & (BillingOrder.expires_at.is_null() | (BillingOrder.expires_at > self.clock()))
                )
                .first()
            )
            order = None if open_order else await self._new_order(user_id, level, kind="checkout")
        if order is not None:
            await self._invoice(order, user["email"], level)
        return await self.status(
            user_id, "checkout", f"Pay the invoice to start {level.name}; your plan changes once it is settled."
        )

    async def create_order(self, user_id: UUID, email: str, level: Level, *, kind: str) -> dict[str, Any]:
        """An order for ``level`` at its current price and period, with its provider invoice.

        Raises:
            ServiceUnavailableException: the provider failed (the order is kept as ``invalid`` with the reason).
        """
        return await self._invoice(await self._new_order(user_id, level, kind=kind), email, level)

    async def _new_order(self, user_id: UUID, level: Level, *, kind: str) -> BillingOrder:
        """The order's row (``pending``, no invoice yet) at the level's current price and period."""
        assert self.provider is not None
        now = self.clock()
        row = BillingOrder(
            user=user_id,
            level=level.name,
            kind=kind,
            provider=self.provider.name,
            amount_usd=level.price_usd,
            currency="USD",
            period_days=level.period_days,
            created_at=now,
            updated_at=now,
        )
        await row.save()
        return row

    async def _invoice(self, row: BillingOrder, email: str, level: Level) -> dict[str, Any]:
        """Housify's quote and the provider's invoice for the order ``row``; returns the order as stored."""
        assert self.provider is not None
        now = self.clock()
        quote = await self._quote(level.price_usd)
        request = InvoiceRequest(
            order_id=row.id,
            amount=level.price_usd,
            currency="USD",
            description=f"Housify {level.name}, {level.period_days} days",
            buyer_email=email,
            redirect_url=f"{self.public_url.rstrip('/')}/#/plans",
            expiration_minutes=self.settings.invoice_minutes,
        )
        try:
            invoice = await self.provider.create_invoice(request)
        except ProviderError as exc:
            log.error("billing: invoice for order %s not created: %s", row.id, exc)
            await BillingOrder.update(
                {BillingOrder.state: "invalid", BillingOrder.state_reason: "the payment provider was unavailable"}
            ).where(BillingOrder.id == row.id)
            raise ServiceUnavailableException("the payment provider is unavailable; try again later") from exc
        expires = invoice.expires_at or now + timedelta(minutes=self.settings.invoice_minutes)
        await BillingOrder.update(
            {
                BillingOrder.invoice_id: invoice.id,
                BillingOrder.checkout_url: invoice.checkout_url,
                BillingOrder.expires_at: expires,
                BillingOrder.updated_at: now,
                **{getattr(BillingOrder, name): value for name, value in quote.items()},
            }
        ).where(BillingOrder.id == row.id)
        log.info("billing: order %s (%s, %s) invoice %s", row.id, level.name, row.kind, invoice.id)
        result = await BillingOrder.select().where(BillingOrder.id == row.id).first()
        assert result is not None
        return result

    async def _quote(self, amount: Decimal) -> dict[str, Any]:
        """Housify's SOAP quote of ``amount`` USD in ``quote_currency``; empty when unavailable (logged)."""
        currency = self.settings.quote_currency.upper()
        if self.quotes is None or not currency or currency == "USD":
            return {}
        try:
            quote = await self.quotes.convert(amount, "USD", currency)
        except Exception as exc:  # noqa: BLE001 - the quote is informational; the order goes on without it
            log.warning("billing: no %s quote for an order: %s: %s", currency, type(exc).__name__, exc)
            return {}
        return {
            "quote_currency": currency,
            "quote_amount": quote.amount,
            "quote_rate": quote.rate,
            "quoted_at": quote.fetched_at,
        }

    # -- provider events ------------------------------------------------------------------

    async def handle_webhook(self, headers: Mapping[str, str], body: bytes) -> str:
        """A provider webhook; returns what it did, in words.

        Raises:
            WebhookRejected: not authentic (the controller answers 401 and logs it).
            ServiceUnavailableException: the invoice could not be read back (the delivery is not
                recorded, so the provider's retry is handled).
        """
        if self.provider is None:
            raise NotFoundException("payments are not configured on this server")
        event = self.provider.parse_webhook(headers, body)
        if not event.invoice_id:
            return f"ignored: {event.event_type} is not about an invoice"
        delivery = BillingWebhookDelivery(
            provider=self.provider.name,
            delivery_id=event.original_delivery_id[:100],
            event_type=event.event_type[:50],
            invoice_id=event.invoice_id[:100],
        )
        try:
            await delivery.save()
        except Exception as exc:
            if "unique" not in str(exc).lower():
                raise
            log.info("billing: delivery %s already handled (redelivery)", event.original_delivery_id)
            return "duplicate delivery: already handled"
        try:
            outcome = await self._on_event(event)
        except Exception as exc:
            # Not handled after all: forget the delivery, so the provider's retry is handled.
            await BillingWebhookDelivery.delete().where(BillingWebhookDelivery.id == delivery.id)
            if not isinstance(exc, ProviderError):
                raise
            log.error("billing: invoice %s not read back: %s", event.invoice_id, exc)
            raise ServiceUnavailableException("the payment provider is unavailable") from exc
        await BillingWebhookDelivery.update({BillingWebhookDelivery.outcome: outcome[:200]}).where(
            BillingWebhookDelivery.id == delivery.id
        )
        return outcome

    async def _on_event(self, event: WebhookEvent) -> str:
        assert self.provider is not None
        order = await BillingOrder.select().where(BillingOrder.invoice_id == event.invoice_id).first()
        if order is None:
            log.warning("billing: webhook %s for unknown invoice %s ignored", event.event_type, event.invoice_id)
            return "ignored: unknown invoice"
        invoice = await self.provider.get_invoice(event.invoice_id)
        return await self.apply_invoice(order, invoice)

    async def apply_invoice(self, order: Mapping[str, Any], invoice: Invoice) -> str:
        """Move ``order`` to what the provider's ``invoice`` says; returns the outcome in words.

        A settled invoice whose amount or currency differs from the order's ends it as ``invalid``
        (logged as an error): Housify never grants a level for a different payment.
        """
        expected = Decimal(str(order["amount_usd"])).quantize(_MONEY)
        if invoice.amount.quantize(_MONEY) != expected or invoice.currency != order["currency"]:
            log.error(
                "billing: invoice %s is %s %s but order %s wants %s %s",
                invoice.id,
                invoice.amount,
                invoice.currency,
                order["id"],
                expected,
                order["currency"],
            )
            ended = await self._end_order(
                order["id"], "invalid", f"the invoice ({invoice.amount} {invoice.currency}) does not match the order"
            )
            return "invalid: amount or currency mismatch" if ended else "unchanged"
        if invoice.state == "settled":
            return "settled" if await self.settle(order["id"]) else "unchanged: already settled"
        if invoice.state == "processing":
            moved = await self._move(order["id"], ("pending",), "processing", "paid; waiting for confirmation")
            return "processing" if moved else "unchanged"
        if invoice.state == "expired":
            ended = await self._end_order(order["id"], "expired", "the invoice was not paid in time")
            return "expired" if ended else "unchanged"
        if invoice.state == "invalid":
            ended = await self._end_order(order["id"], "invalid", "the payment provider marked the invoice invalid")
            return "invalid" if ended else "unchanged"
        return "unchanged: invoice not paid yet"

    async def _move(self, order_id: UUID, from_states: tuple[str, ...], to: OrderState, reason: str) -> bool:
        """Compare-and-set of an order's state; True for the one caller that moved it."""
        moved = (
            await BillingOrder.update(
                {BillingOrder.state: to, BillingOrder.state_reason: reason, BillingOrder.updated_at: self.clock()}
            )
            .where((BillingOrder.id == order_id) & BillingOrder.state.is_in(list(from_states)))
            .returning(BillingOrder.id)
        )
        return bool(moved)

    async def _end_order(self, order_id: UUID, state: OrderState, reason: str) -> bool:
        ended = await self._move(order_id, OPEN_STATES, state, reason)
        if ended:
            log.info("billing: order %s %s: %s", order_id, state, reason)
        return ended

    async def settle(self, order_id: UUID) -> bool:
        """The order's invoice is settled: start or extend the period, change the level, mail a receipt.

        An order settles once (compare-and-set from ``pending``/``processing``/``expired``: an invoice
        paid late still counts); a cancelled or invalid order never does. Returns whether this call did it.
        """
        now = self.clock()
        row = await BillingOrder.select().where(BillingOrder.id == order_id).first()
        if row is None or row["user"] is None:
            return False
        user_id = row["user"]
        level = await self.levels.get(row["level"])
        async with user_lock(user_id):
            moved = (
                await BillingOrder.update(
                    {
                        BillingOrder.state: "settled",
                        BillingOrder.state_reason: "paid",
                        BillingOrder.settled_at: now,
                        BillingOrder.updated_at: now,
                    }
                )
                .where((BillingOrder.id == order_id) & BillingOrder.state.is_in([*OPEN_STATES, "expired"]))
                .returning(BillingOrder.id)
            )
            if not moved:
                return False
            period = await self._period(user_id)
            days = timedelta(days=row["period_days"])
            running = period is not None and period["level"] == level.name and _at(period["ends_at"]) > now
            start = _at(period["started_at"]) if running and period else now
            end = (_at(period["ends_at"]) if running and period else now) + days
            await self._set_period(user_id, level.name, "order", start, end)
            await BillingOrder.update({BillingOrder.period_start: start, BillingOrder.period_end: end}).where(
                BillingOrder.id == order_id
            )
            disabled = await self._set_level(user_id, level)
        await self.revocations.revoke_user_tokens(user_id)
        settled = await BillingOrder.select().where(BillingOrder.id == order_id).first()
        email = await _email(user_id)
        if settled and email:
            self.mailer.send(email, f"Housify receipt: {level.name}", _receipt(order_out(settled)))
        log.info("billing: order %s settled: %s until %s", order_id, level.name, end)
        if disabled:
            log.info("billing: user %s keys disabled at the new cap: %s", user_id, disabled)
        return True

    async def _set_period(self, user_id: UUID, level: str, source: str, start: datetime, end: datetime) -> None:
        """Replace the user's period row (called under :func:`user_lock`)."""
        await BillingPeriod.delete().where(BillingPeriod.user == user_id)
        await BillingPeriod(user=user_id, level=level, source=source, started_at=start, ends_at=end).save()

    # -- level changes ------------------------------------------------------------------------

    async def apply_level(self, user_id: UUID, level: Level) -> list[str]:
        """Put the user on ``level`` now (and its API key cap); returns the prefixes of keys disabled."""
        async with user_lock(user_id):
            disabled = await self._set_level(user_id, level)
        await self.revocations.revoke_user_tokens(user_id)
        return disabled

    async def _set_level(self, user_id: UUID, level: Level) -> list[str]:
        """Under the user's lock: the level, then the cap: the newest ``api_key_limit`` keys enabled, the rest disabled."""
        now = self.clock()
        await User.update({User.subscription_level: level.name, User.updated_at: now}).where(User.id == user_id)
        keys = (
            await ApiKey.select(ApiKey.id, ApiKey.prefix, ApiKey.disabled_at)
            .where(ApiKey.user == user_id)
            .order_by(ApiKey.created_at, ascending=False)
        )
        keep, drop = keys[: level.api_key_limit], keys[level.api_key_limit :]
        enable = [key["id"] for key in keep if key["disabled_at"] is not None]
        disable = [key for key in drop if key["disabled_at"] is None]
        if enable:
            await ApiKey.update({ApiKey.disabled_at: None}).where(ApiKey.id.is_in(enable))
        if disable:
            await ApiKey.update({ApiKey.disabled_at: now}).where(ApiKey.id.is_in([key["id"] for key in disable]))
        return [key["prefix"] for key in disable]

    async def grant_period(self, user_id: UUID, level: Level, days: int) -> datetime | None:
        """An admin's grant: ``level`` for ``days`` from now (the free level: the period ends now).
        Returns the period's end (``None`` for the free level)."""
        now = self.clock()
        async with user_lock(user_id):
            end: datetime | None = None
            if level.is_paid:
                end = now + timedelta(days=days)
                await self._set_period(user_id, level.name, "grant", now, end)
            else:
                await BillingPeriod.delete().where(BillingPeriod.user == user_id)
            await self._set_level(user_id, level)
        await self.revocations.revoke_user_tokens(user_id)
        return end

    # -- time passing -----------------------------------------------------------------------

    async def sweep(self) -> SweepReport:
        """Make due renewal invoices, end due periods, read back expired open orders (every instance runs it;
        each item is claimed by one conditional write, so it happens once)."""
        report = SweepReport()
        now = self.clock()
        report.renewals = await self._renewals(now)
        report.ended = await self._end_periods(now)
        report.orders_checked = await self._check_stale_orders(now)
        return report

    async def _renewals(self, now: datetime) -> list[UUID]:
        if self.provider is None:
            return []
        lead = timedelta(hours=self.settings.renewal_lead_hours)
        due = await BillingPeriod.select().where(
            (BillingPeriod.source == "order")
            & BillingPeriod.renewal_claimed_at.is_null()
            & (BillingPeriod.ends_at <= now + lead)
            & (BillingPeriod.ends_at > now)
        )
        made: list[UUID] = []
        for period in due:
            length = _at(period["ends_at"]) - _at(period["started_at"])
            if _at(period["ends_at"]) - now > length / 2:
                continue  # a short period's renewal waits for its second half
            level = await self.levels.get(period["next_level"] or period["level"])
            if not level.is_paid:
                continue
            claimed = (
                await BillingPeriod.update({BillingPeriod.renewal_claimed_at: now})
                .where((BillingPeriod.id == period["id"]) & BillingPeriod.renewal_claimed_at.is_null())
                .returning(BillingPeriod.id)
            )
            if not claimed:
                continue  # another instance took it
            email = await _email(period["user"])
            try:
                order = await self.create_order(period["user"], email, level, kind="renewal")
            except ServiceUnavailableException:
                await BillingPeriod.update({BillingPeriod.renewal_claimed_at: None}).where(
                    BillingPeriod.id == period["id"]
                )
                continue  # logged by create_order; the next sweep tries again
            await BillingPeriod.update({BillingPeriod.renewal_order: order["id"]}).where(
                BillingPeriod.id == period["id"]
            )
            self.mailer.send(
                email,
                f"Renew Housify {level.name}",
                f"Your Housify {period['level']} period ends {_at(period['ends_at']):%Y-%m-%d %H:%M} UTC.\n\n"
                f"To continue on {level.name} for {level.period_days} more days, pay {level.price_usd} USD here:\n"
                f"{order['checkout_url']}\n\nWithout payment your account returns to {FREE_TIER} at the end of the "
                "period; your pictures stay.\n",
            )
            made.append(period["user"])
        return made

    async def _end_periods(self, now: datetime) -> list[UUID]:
        due = await BillingPeriod.select().where(BillingPeriod.ends_at <= now)
        free = await self.levels.get(FREE_TIER)
        ended: list[UUID] = []
        for period in due:
            async with user_lock(period["user"]):
                taken = (
                    await BillingPeriod.delete()
                    .where((BillingPeriod.id == period["id"]) & (BillingPeriod.ends_at == period["ends_at"]))
                    .returning(BillingPeriod.id)
                )
                if not taken:
                    continue  # another instance ended it, or a payment just extended it
                disabled = await self._set_level(period["user"], free)
            await self.revocations.revoke_user_tokens(period["user"])
            email = await _email(period["user"])
            kept = (
                f"\nAPI keys disabled (over {free.name}'s cap of {free.api_key_limit}): {', '.join(disabled)}"
                if disabled
                else ""
            )
            if email:
                self.mailer.send(
                    email,
                    f"Your Housify {period['level']} period has ended",
                    f"Your account is on {free.name} now. Your pictures stay; while they use more than "
                    f"{free.storage_limit_gb} GB, new uploads and pictures are refused.{kept}\n"
                    "Choose a plan again on the Plans page at any time.\n",
                )
            log.info("billing: period of user %s on %s ended; now %s", period["user"], period["level"], free.name)
            ended.append(period["user"])
        return ended

    async def _check_stale_orders(self, now: datetime) -> int:
        if self.provider is None:
            return 0
        stale = await BillingOrder.select().where(
            BillingOrder.state.is_in(list(OPEN_STATES))
            & BillingOrder.invoice_id.is_not_null()
            & (BillingOrder.expires_at < now - STALE_ORDER_GRACE)
        )
        for order in stale:
            try:
                invoice = await self.provider.get_invoice(order["invoice_id"])
            except ProviderError as exc:
                log.error("billing: order %s not checked: %s", order["id"], exc)
                continue
            outcome = await self.apply_invoice(order, invoice)
            if outcome.startswith("unchanged") and invoice.state == "new":
                await self._end_order(order["id"], "expired", "the invoice was not paid in time")
        return len(stale)

    # -- accounts -------------------------------------------------------------------------------

    async def on_account_deleted(self, user_id: UUID) -> None:
        """Account deletion hook: open orders end as ``cancelled`` (their invoices are not honoured)."""
        await BillingOrder.update(
            {BillingOrder.state: "cancelled", BillingOrder.state_reason: "the account was deleted"}
        ).where((BillingOrder.user == user_id) & BillingOrder.state.is_in(list(OPEN_STATES)))

    async def aclose(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()

    @contextlib.asynccontextmanager
    async def using_clock(self, clock: Clock) -> AsyncIterator[None]:
        """Run with another clock (tests move time across a period's boundary)."""
        previous, self.clock = self.clock, clock
        try:
            yield
        finally:
            self.clock = previous


async def _email(user_id: UUID) -> str:
    row = await User.select(User.email).where(User.id == user_id).first()
    return row["email"] if row else ""


def _period_out(period: Mapping[str, Any]) -> PeriodOut:
    """``next_level``: what the user asked for after the end (the renewal's level; the free level for a grant);
    without payment of the renewal the account returns to the free level."""
    if period["source"] == "grant":
        next_level = period["next_level"] or FREE_TIER
    else:
        next_level = period["next_level"] or period["level"]
    return PeriodOut(
        level=period["level"],
        source=period["source"],
        started_at=_at(period["started_at"]),
        ends_at=_at(period["ends_at"]),
        next_level=next_level,
        renews=period["source"] == "order" and next_level != FREE_TIER,
    )


def _describe(level: str, period: Mapping[str, Any] | None) -> str:
    if period is None:
        return f"You are on {level}."
    ends = _at(period["ends_at"])
    return f"You are on {level} until {ends:%Y-%m-%d %H:%M} UTC."


def _receipt(order: OrderOut) -> str:
    quote = ""
    if order.quote:
        quote = (
            f"Housify's quote: {order.quote.amount} {order.quote.currency} at {order.quote.rate} per USD "
            f"({order.quote.quoted_at:%Y-%m-%d %H:%M} UTC)\n"
        )
    return (
        f"Thank you for your payment.\n\nOrder: {order.id}\nPlan: {order.level}, {order.period_days} days\n"
        f"Amount: {order.amount} {order.currency}\n{quote}"
        f"Paid: {order.settled_at:%Y-%m-%d %H:%M} UTC\n"
        f"Period: {order.period_start:%Y-%m-%d %H:%M} - {order.period_end:%Y-%m-%d %H:%M} UTC\n"
        f"Provider: {order.provider}\n\nYour orders: Plans page, or GET /users/me/orders.\n"
    )


def level_snapshot(level: Level) -> dict[str, Any]:
    """A level's settings as a JSON object (the audit's before/after)."""
    snapshot: dict[str, Any] = msgspec.to_builtins(level)
    return snapshot


def build_billing(
    settings: ApiSettings,
    *,
    levels: LevelService,
    mailer: Mailer,
    revocations: Revocations,
    quotes: CryptoQuoteClient | None,
) -> BillingService:
    """The billing service for ``settings``: BTCPay when its store is configured, otherwise payments off.

    Raises:
        SettingsError: the store half configured (naming the missing variables).
    """
    from housify_api.billing.btcpay import BTCPayProvider

    billing = settings.billing
    billing.check()
    provider = (
        BTCPayProvider(
            billing.btcpay_url,
            billing.btcpay_store_id,
            billing.btcpay_api_key,
            billing.btcpay_webhook_secret,
            timeout_seconds=billing.btcpay_timeout_seconds,
        )
        if billing.payments_enabled
        else None
    )
    return BillingService(
        levels=levels,
        mailer=mailer,
        revocations=revocations,
        settings=billing,
        public_url=settings.public_url,
        provider=provider,
        quotes=quotes,
    )
