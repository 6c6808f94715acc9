"""Subscription levels (DESIGN.md §4): the table's seed, lookups other domains use, and ``/subscriptions``.

Other code loads the caller's level with ``await level_for_user(user_id)`` or
``await get_level(request.user.tier)``; both return a :class:`Level`.
"""

from housify_api.plans.service import DEFAULT_LEVELS, Level, get_level, level_for_user, list_levels, seed_levels

__all__ = ["DEFAULT_LEVELS", "Level", "get_level", "level_for_user", "list_levels", "seed_levels"]
