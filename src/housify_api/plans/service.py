"""Subscription levels: seeding, lookups, and plan changes."""

from __future__ import annotations

import logging
from decimal import Decimal
from uuid import UUID

import msgspec
from litestar.exceptions import NotFoundException, ValidationException

from housify_api.schemas import Output
from housify_api.tables import SubscriptionLevel, User

log = logging.getLogger("housify_api.plans")

FREE_TIER = "Free-Tier"


class Level(Output, frozen=True):
    """One subscription level (DESIGN.md §4). Units: price in USD/month, upload limit in MB,
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


#: The levels of DESIGN.md §4 / seed 000 5.10.1, inserted at start-up when missing.
DEFAULT_LEVELS: tuple[Level, ...] = (
    Level(name=FREE_TIER, price_usd=Decimal("0.00"), upload_size_limit_mb=100, storage_limit_gb=10, its=2.5,
          api_key_limit=1, requests_hour=6, watermark=True),
    Level(name="Pro-Tier", price_usd=Decimal("9.99"), upload_size_limit_mb=1000, storage_limit_gb=100, its=5.0,
          api_key_limit=10, requests_hour=60, watermark=False),
)

_COLUMNS = (
    SubscriptionLevel.name, SubscriptionLevel.price_usd, SubscriptionLevel.upload_size_limit_mb,
    SubscriptionLevel.storage_limit_gb, SubscriptionLevel.its, SubscriptionLevel.api_key_limit,
    SubscriptionLevel.requests_hour, SubscriptionLevel.watermark,
)


def _level(row: dict) -> Level:
    row = dict(row)
    row["price_usd"] = Decimal(str(row["price_usd"])).quantize(Decimal("0.01"))
    return msgspec.convert(row, Level, strict=False)


async def seed_levels() -> int:
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
        except Exception as exc:  # noqa: BLE001 - a concurrent instance inserted it first
            if "unique" not in str(exc).lower():
                raise
    if added:
        log.info("seeded %d subscription level(s)", added)
    return added


async def list_levels() -> list[Level]:
    """All levels, cheapest first."""
    rows = await SubscriptionLevel.select(*_COLUMNS).order_by(SubscriptionLevel.price_usd)
    return [_level(row) for row in rows]


async def get_level(name: str) -> Level:
    """The level called ``name``. Raises ``NotFoundException`` (404) naming it."""
    row = await SubscriptionLevel.select(*_COLUMNS).where(SubscriptionLevel.name == name).first()
    if row is None:
        raise NotFoundException(f"subscription level {name!r} does not exist")
    return _level(row)


async def require_level_name(name: str, field: str = "subscription_level") -> str:
    """``name`` if such a level exists; otherwise a 400 naming ``field`` and the known levels."""
    names = [row["name"] for row in await SubscriptionLevel.select(SubscriptionLevel.name)]
    if name not in names:
        raise ValidationException(
            f"{field}: unknown subscription level {name!r}; known: {', '.join(sorted(names))}",
            extra=[{"key": field, "message": f"unknown subscription level {name!r}"}],
        )
    return name


async def level_for_user(user_id: UUID) -> Level:
    """The current level of user ``user_id`` (read from the database, not the token). 404 if no such user."""
    row = await User.select(User.subscription_level).where(User.id == user_id).first()
    if row is None:
        raise NotFoundException("user not found")
    return await get_level(row["subscription_level"])
