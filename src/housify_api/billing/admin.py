"""Admins' level edits and grants, each audited (who, when, before/after) in ``billing_audit``.

* :meth:`LevelAdmin.edit`: ``PATCH /admin/levels/{name}``. Limits apply at once to everyone on the
  level (this instance's cached view is dropped; other instances within
  ``HOUSIFY_MEDIA_LEVELS_CACHE_SECONDS``; tokens are not involved: limits are read per request);
  price and period apply to orders made afterwards (an order keeps the price and period it was made with).
  Lowering ``api_key_limit`` takes effect on each user's next level change, not retroactively.
* :meth:`LevelAdmin.grant`: ``POST /admin/users/{id}/grants`` and the level field of
  ``PATCH /admin/users/{id}``: a level for a period without payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import msgspec
from litestar.exceptions import NotFoundException, ValidationException
from piccolo.columns.combination import Combinable

from housify_api.auth.identity import AuthUser
from housify_api.billing.schemas import AuditOut, GrantIn, LevelPatch
from housify_api.billing.service import BillingService, level_snapshot
from housify_api.billing.tables import BillingAudit
from housify_api.pagination import Page
from housify_api.plans.service import Level, LevelService
from housify_api.tables import SubscriptionLevel, User


@dataclass(frozen=True, kw_only=True)
class LevelAdmin:
    """Level edits and grants on ``levels`` and ``billing``."""

    levels: LevelService
    billing: BillingService

    async def edit(self, actor: AuthUser, name: str, patch: LevelPatch) -> Level:
        """Change the given settings of level ``name`` (404 unknown); audited with before and after."""
        before = await self.levels.get(name)
        if patch.price_usd is not msgspec.UNSET:
            _check_price(patch.price_usd)
        changes = {
            getattr(SubscriptionLevel, key): value
            for key, value in msgspec.structs.asdict(patch).items()
            if value is not msgspec.UNSET
        }
        if not changes:
            return before
        await SubscriptionLevel.update(changes).where(SubscriptionLevel.name == name)
        self.levels.forget()
        after = await self.levels.get(name)
        await _audit(actor, "level_edit", name, level_snapshot(before), level_snapshot(after))
        return after

    async def grant(self, actor: AuthUser, user_id: UUID, data: GrantIn, field: str = "level") -> dict[str, Any]:
        """Give ``data.level`` to the user for ``data.days`` (default: the level's period) without payment.

        Returns the audit entry's ``after``. Raises 404 for an unknown user, 400 naming ``field`` for an
        unknown level.
        """
        level = await self.levels.get(await self.levels.require_name(data.level, field=field))
        user = await User.select(User.subscription_level).where(User.id == user_id).first()
        if user is None:
            raise NotFoundException("user not found")
        period = await self.billing.status(user_id)
        days = data.days or level.period_days
        end = await self.billing.grant_period(user_id, level, days)
        before = {
            "level": user["subscription_level"],
            "ends_at": _iso(period.period.ends_at if period.period else None),
        }
        after = {"level": level.name, "ends_at": _iso(end), "days": days if level.is_paid else None}
        await _audit(actor, "grant", str(user_id), before, after, data.note)
        return after

    async def audit(self, *, limit: int, offset: int, target: str | None = None) -> Page[AuditOut]:
        """Audit entries, newest first (``target``: a level name or a user id)."""
        where: Combinable = BillingAudit.id.is_not_null()
        if target:
            where &= BillingAudit.target == target
        rows = (
            await BillingAudit.select()
            .where(where)
            .order_by(BillingAudit.at, ascending=False)
            .limit(limit)
            .offset(offset)
        )
        total = await BillingAudit.count().where(where)
        items = [
            msgspec.convert(
                {**row, "before": _json(row["before"]), "after": _json(row["after"])}, AuditOut, strict=False
            )
            for row in rows
        ]
        return Page(items=items, total=total, limit=limit, offset=offset)


#: ``subscription_levels.price_usd`` is ``numeric(10, 2)``.
_MAX_PRICE = Decimal("99999999.99")


def _check_price(price: Decimal) -> None:
    """400 naming ``price_usd`` unless it is a finite amount from 0 to 99,999,999.99 with at most two decimals."""
    if not price.is_finite() or price < 0 or price > _MAX_PRICE or price != price.quantize(Decimal("0.01")):
        raise ValidationException(
            "price_usd: must be 0 to 99999999.99 USD with at most two decimals",
            extra=[{"key": "price_usd", "message": "0 to 99999999.99, two decimals at most"}],
        )


def _json(value: Any) -> Any:
    """A ``JSON`` column as read back (a string on PostgreSQL and SQLite) as the object it holds."""
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def _audit(
    actor: AuthUser, action: str, target: str, before: dict[str, Any], after: dict[str, Any], note: str = ""
) -> None:
    await BillingAudit(
        actor=actor.id,
        actor_email=actor.email,
        action=action,
        target=target,
        before=msgspec.json.encode(before).decode(),
        after=msgspec.json.encode(after).decode(),
        note=note,
    ).save()
