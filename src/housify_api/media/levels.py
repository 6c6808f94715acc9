"""The subscription level numbers the media domain enforces (DESIGN.md §4).

Read from the accounts app's ``subscription_levels`` table by the name the
caller's token carries (``AuthUser.tier``), cached for a few seconds per
process so an admin's edit takes effect quickly without a query per request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from litestar.exceptions import HTTPException

from housify_api.tables import SubscriptionLevel

CACHE_SECONDS = 10.0
MB = 1024**2
GB = 1024**3


@dataclass(frozen=True, slots=True)
class LevelLimits:
    name: str
    upload_size_limit_bytes: int
    storage_limit_bytes: int
    requests_hour: int
    watermark: bool
    its: float


_cache: dict[str, tuple[float, LevelLimits]] = {}


async def level_limits(name: str) -> LevelLimits:
    """Limits of level ``name``.

    Raises:
        HTTPException: 403 when the level does not exist (an account pointing at a deleted level).
    """
    hit = _cache.get(name)
    now = time.monotonic()
    if hit and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    row = await SubscriptionLevel.select().where(SubscriptionLevel.name == name).first()
    if row is None:
        raise HTTPException(status_code=403, detail=f"subscription level {name!r} does not exist; ask an admin")
    limits = LevelLimits(
        name=row["name"],
        upload_size_limit_bytes=int(row["upload_size_limit_mb"]) * MB,
        storage_limit_bytes=int(row["storage_limit_gb"]) * GB,
        requests_hour=int(row["requests_hour"]),
        watermark=bool(row["watermark"]),
        its=float(row["its"]),
    )
    _cache[name] = (now, limits)
    return limits


def forget_cached_levels() -> None:
    """Drop the cache (tests that edit levels; admins' edits otherwise show within CACHE_SECONDS)."""
    _cache.clear()
