"""Subscription levels: the table's seed, the one reader other domains use, and ``/subscriptions``.

Other code gets the :class:`LevelService` from the app's services
(``services.levels``): ``await levels.for_user(user_id)``, ``await levels.get(name)``,
or the cached view ``await levels.cached(request.user.tier)``; each returns a :class:`Level`.
"""

from housify_api.plans.service import DEFAULT_LEVELS, Level, LevelService, PlanService, PricedLevel

__all__ = ["DEFAULT_LEVELS", "Level", "LevelService", "PlanService", "PricedLevel"]
