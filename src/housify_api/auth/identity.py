"""Who is calling: the typed ``request.user`` of every authenticated request.

Both credentials resolve to the same :class:`AuthUser`: a bearer access token
(built from the token's verified claims alone, no database read) and an
``X-API-Key`` (read from the database). Route handlers declare
``request: Request[AuthUser, Any, Any]`` or take ``request.user``.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

import msgspec

from housify_ai.tasks import task_names

#: Per-service access rights: one per registered job kind (``housify_ai.tasks.REGISTRY``) plus the
#: prompt assistant. New users get all of them (existing users get a newly registered task once, see
#: ``housify_api.media.catalog.access``); admins grant or revoke with ``PATCH /admin/users/{id}``.
SERVICES: tuple[str, ...] = (*task_names(), "prompt_assist")
ServiceName = Literal[SERVICES]  # type: ignore[valid-type]  # derived from the registry

ROLES: tuple[str, ...] = ("user", "admin")
Role = Literal["user", "admin"]


class AuthUser(msgspec.Struct, frozen=True):
    """The authenticated caller.

    Attributes:
        id: the user's id (the token's ``sub``).
        email: the account's e-mail address.
        role: ``"user"`` or ``"admin"``.
        tier: the subscription level's name (``"Free-Tier"``, ``"Pro-Tier"``, ...).
        services: the AI services this user may call (subset of :data:`SERVICES`).
        via: ``"token"`` (bearer access token) or ``"api_key"`` (``X-API-Key``).
        session_id: the refresh-token family of the access token; ``None`` for API keys.
        jti: the access token's id; ``None`` for API keys.
    """

    id: UUID
    email: str
    role: str
    tier: str
    services: frozenset[str]
    via: Literal["token", "api_key"] = "token"
    session_id: UUID | None = None
    jti: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_use(self, service: str) -> bool:
        return service in self.services


def parse_services(stored: str) -> frozenset[str]:
    """The ``users.services`` column (comma-separated) as a set."""
    return frozenset(name for name in stored.split(",") if name)


def format_services(services: frozenset[str] | set[str] | list[str] | tuple[str, ...]) -> str:
    """A set of service names as stored in ``users.services`` (sorted, comma-separated)."""
    return ",".join(sorted(set(services)))
