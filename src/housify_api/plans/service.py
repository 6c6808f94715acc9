"""Subscription levels (docs/design.md "Subscription levels"): seeding, lookups, prices.

:class:`LevelService` is the one reader of the ``subscription_levels`` table.
Accounts and admin read it fresh (:meth:`LevelService.get`, 404 for an unknown
name); the media domain reads a cached view (:meth:`LevelService.cached`),
because it needs the caller's limits on every upload and job and an admin's
edit may take ``levels_cache_seconds`` to show.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import UUID

import msgspec
from cachetools import TTLCache
from litestar.exceptions import NotFoundException, ServiceUnavailableException, ValidationException

from housify_ai.contract import DEFAULT_LEVELS as DEFAULT_ITS
from housify_api.schemas import Output
from housify_api.tables import SubscriptionLevel, User

if TYPE_CHECKING:
    from housify_api.crypto_quotes import CryptoQuoteClient

log = logging.getLogger("housify_api.plans")

FREE_TIER = "Free-Tier"
MB = 1024**2
GB = 1024**3
#: ``?currency=``: an asset symbol as housify-soap takes it.
CURRENCY = re.compile(r"^[A-Za-z0-9]{2,10}$")


class Level(msgspec.Struct, kw_only=True, frozen=True):
    """One subscription level. Units: price in USD/month, upload limit in MB,
    storage in GB, ``its`` = the level's share of inference capacity, ``requests_hour`` =
    generation jobs per rolling hour."""

    name: str
    price_usd: Decimal
    upload_size_limit_mb: int
    storage_limit_gb: int
    its: float
    api_key_limit: int
    requests_hour: int
    watermark: bool
    #: Days a paid level runs from settlement or grant before it renews or falls back (housify_api.billing).
    period_days: int = 30

    @property
    def is_paid(self) -> bool:
        """A level with a price is reached by a settled invoice or an admin's grant only."""
        return self.price_usd > 0

    @property
    def upload_size_limit_bytes(self) -> int:
        return self.upload_size_limit_mb * MB

    @property
    def storage_limit_bytes(self) -> int:
        return self.storage_limit_gb * GB


#: The levels of docs/design.md "Subscription levels", inserted at start-up when missing.
#: ``its`` comes from the job contract's defaults, the weights AI workers use before the API publishes any.
DEFAULT_LEVELS: tuple[Level, ...] = (
    Level(
        name=FREE_TIER,
        price_usd=Decimal("0.00"),
        upload_size_limit_mb=100,
        storage_limit_gb=10,
        its=DEFAULT_ITS[FREE_TIER],
        api_key_limit=1,
        requests_hour=6,
        watermark=True,
    ),
    Level(
        name="Pro-Tier",
        price_usd=Decimal("9.99"),
        upload_size_limit_mb=1000,
        storage_limit_gb=100,
        its=DEFAULT_ITS["Pro-Tier"],
        api_key_limit=10,
        requests_hour=60,
        watermark=False,
    ),
)

_COLUMNS = (
    SubscriptionLevel.name,
    SubscriptionLevel.price_usd,
    SubscriptionLevel.upload_size_limit_mb,
    SubscriptionLevel.storage_limit_gb,
    SubscriptionLevel.its,
    SubscriptionLevel.api_key_limit,
    SubscriptionLevel.requests_hour,
    SubscriptionLevel.watermark,
    SubscriptionLevel.period_days,
)


def level_from_row(row: dict[str, object]) -> Level:
    """A ``subscription_levels`` row as :class:`Level` (price to cents, numbers to their types)."""
    values = dict(row)
    values["price_usd"] = Decimal(str(values["price_usd"])).quantize(Decimal("0.01"))
    return msgspec.convert(values, Level, strict=False)


class PricedLevel(Output):
    """A level plus its price in ``currency`` (``price`` equals ``price_usd`` for USD).

    ``rate`` is USD→currency from housify-soap, ``quoted_at`` when that rate was fetched and
    ``stale`` whether the service answered from its cache after an upstream failure; all
    ``null`` for USD.
    """

    level: Level
    currency: str
    price: Decimal
    rate: Decimal | None = None
    quoted_at: datetime | None = None
    stale: bool | None = None


class LevelService:
    """Reads and seeds the levels.

    Args:
        cache_seconds: life of an entry of the cached view (:meth:`cached`); 0 disables it.
    """

    def __init__(self, cache_seconds: float = 10.0) -> None:
        self._cache: TTLCache[str, Level] | None = (
            TTLCache(maxsize=256, ttl=cache_seconds) if cache_seconds > 0 else None
        )

    async def seed(self) -> int:
        """Insert the default levels that are missing (admins' edits are kept); returns how many were added.

        Idempotent and safe for several instances starting at once: a lost race is a
        unique violation, which is ignored.
        """
        existing = {row["name"] for row in await SubscriptionLevel.select(SubscriptionLevel.name)}
        added = 0
        for level in DEFAULT_LEVELS:
            if level.name in existing:
                continue
            try:
                await SubscriptionLevel.insert(SubscriptionLevel(**msgspec.structs.asdict(level)))
                added += 1
            except Exception as exc:  # a concurrent instance inserted it first
                if "unique" not in str(exc).lower():
                    raise
        if added:
            log.info("seeded %d subscription level(s)", added)
        return added

    async def list(self) -> list[Level]:
        """All levels, cheapest first."""
        rows = await SubscriptionLevel.select(*_COLUMNS).order_by(SubscriptionLevel.price_usd)
        return [level_from_row(row) for row in rows]

    async def weights(self) -> dict[str, float]:
        """Level name -> ``its``, as published to the AI workers."""
        return {
            row["name"]: float(row["its"])
            for row in await SubscriptionLevel.select(SubscriptionLevel.name, SubscriptionLevel.its)
        }

    async def get(self, name: str) -> Level:
        """The level called ``name``, read now. Raises ``NotFoundException`` (404) naming it."""
        row = await SubscriptionLevel.select(*_COLUMNS).where(SubscriptionLevel.name == name).first()
        if row is None:
            raise NotFoundException(f"subscription level {name!r} does not exist")
        return level_from_row(row)

    async def cached(self, name: str) -> Level:
        """:meth:`get` through the per-process cache (``levels_cache_seconds``)."""
        if self._cache is None:
            return await self.get(name)
        level = self._cache.get(name)
        if level is None:
            level = self._cache[name] = await self.get(name)
        return level

    def forget(self) -> None:
        """Drop the cached view (after an admin's edit, so this instance applies it at once)."""
        if self._cache is not None:
            self._cache.clear()

    async def require_name(self, name: str, field: str = "subscription_level") -> str:
        """``name`` if such a level exists; otherwise a 400 naming ``field`` and the known levels."""
        names = [row["name"] for row in await SubscriptionLevel.select(SubscriptionLevel.name)]
        if name not in names:
            raise ValidationException(
                f"{field}: unknown subscription level {name!r}; known: {', '.join(sorted(names))}",
                extra=[{"key": field, "message": f"unknown subscription level {name!r}"}],
            )
        return name

    async def for_user(self, user_id: UUID) -> Level:
        """The current level of user ``user_id`` (read from the database, not the token). 404 if no such user."""
        row = await User.select(User.subscription_level).where(User.id == user_id).first()
        if row is None:
            raise NotFoundException("user not found")
        return await self.get(row["subscription_level"])


class PlanService:
    """``GET /subscriptions``: the levels priced in USD or, through housify-soap, another asset.

    Args:
        levels: the level reader.
        quotes: the housify-soap client (``HOUSIFY_SOAP_WSDL_URL``); ``None`` when not configured.
    """

    def __init__(self, levels: LevelService, quotes: CryptoQuoteClient | None) -> None:
        self.levels = levels
        self.quotes = quotes

    async def priced(self, currency: str) -> list[PricedLevel]:
        """Every level with its price in ``currency`` (case-insensitive asset symbol).

        Raises:
            ValidationException: 400 for a malformed symbol, 422 for one housify-soap does not quote.
            ServiceUnavailableException: conversion not configured, or housify-soap cannot quote now.
        """
        if not CURRENCY.match(currency):
            raise ValidationException(f"currency: {currency!r} is not an asset symbol (2-10 letters or digits)")
        currency = currency.upper()
        levels = await self.levels.list()
        if currency == "USD":
            return [PricedLevel(level=level, currency="USD", price=level.price_usd) for level in levels]
        if self.quotes is None:
            raise ServiceUnavailableException("currency conversion is not configured (HOUSIFY_SOAP_WSDL_URL)")
        from housify_api.crypto_quotes import QuoteUnavailable, UnknownAsset

        try:
            quotes = await asyncio.gather(*(self.quotes.convert(level.price_usd, "USD", currency) for level in levels))
        except UnknownAsset as exc:
            raise ValidationException(
                f"currency: {currency!r} is not quoted by the rates service ({exc})", status_code=422
            ) from exc
        except QuoteUnavailable as exc:
            log.error("price quote USD->%s unavailable: %s", currency, exc)
            raise ServiceUnavailableException(f"currency conversion unavailable: {exc}") from exc
        return [
            PricedLevel(
                level=level,
                currency=currency,
                price=quote.amount,
                rate=quote.rate,
                quoted_at=quote.fetched_at,
                stale=quote.stale,
            )
            for level, quote in zip(levels, quotes, strict=True)
        ]
