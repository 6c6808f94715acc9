"""The caller's subscription level as the media domain enforces it (docs/design.md "Subscription levels").

The media routes read the cached view of the one level reader
(:meth:`housify_api.plans.service.LevelService.cached`) by the name the
caller's token carries (``AuthUser.tier``): an upload or job needs the limits
on every request, and an admin's edit shows within ``HOUSIFY_MEDIA_LEVELS_CACHE_SECONDS``.
"""

from __future__ import annotations

from litestar.exceptions import NotFoundException, PermissionDeniedException

from housify_api.auth.identity import AuthUser
from housify_api.plans.service import Level, LevelService


async def caller_level(levels: LevelService, user: AuthUser) -> Level:
    """The level of ``user`` (cached).

    Raises:
        PermissionDeniedException: 403 when the level does not exist (an account pointing at a deleted level).
    """
    try:
        return await levels.cached(user.tier)
    except NotFoundException as exc:
        raise PermissionDeniedException(f"subscription level {user.tier!r} does not exist; ask an admin") from exc
