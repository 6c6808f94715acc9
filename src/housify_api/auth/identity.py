"""Who is calling: the typed ``request.user`` of every authenticated request.

Both credentials resolve to the same :class:`AuthUser`: a bearer access token
(built from the token's verified claims alone, no database read) and an
``X-API-Key`` (read from the database). Route handlers declare
``request: Request[AuthUser, Any, Any]`` or take ``request.user``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal
from uuid import UUID

import msgspec

from housify_ai.tasks import task_names

#: Per-service access rights (per-user access flags to each AI service, docs/design.md "Access rights"):
#: one per registered job kind (``housify_ai.tasks.REGISTRY``) plus the prompt assistant. New users get
#: all of them (existing users get a newly registered task once, see ``housify_api.media.catalog.access``);
#: admins grant or revoke with ``PATCH /admin/users/{id}``.
SERVICES: tuple[str, ...] = (*task_names(), "prompt_assist")
ServiceName = Literal[SERVICES]  # type: ignore[valid-type]  # derived from the registry

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

    def may_manage(self, owner_id: UUID) -> bool:
        """Whether this caller may see and change what ``owner_id`` owns (a private picture, a job):
        the owner themself, or any admin. The one place of the "owner or admin" rule."""
        return self.is_admin or owner_id == self.id


def auth_user(
    *,
    id: UUID | str,  # noqa: A002 - the field's name
    email: str,
    role: str,
    tier: str,
    services: str | Iterable[str],
    via: Literal["token", "api_key"],
    session_id: UUID | str | None = None,
    jti: str | None = None,
) -> AuthUser:
    """The one way to make an :class:`AuthUser`, from token claims or a database row alike.

    ``id``/``session_id`` may be strings (claims) or UUIDs (rows); ``services`` the stored
    comma-separated column or any iterable of names (the token's ``svc`` claim).

    Raises:
        ValueError / TypeError: an id that is not a UUID, or a malformed ``services``.
    """
    return AuthUser(
        id=id if isinstance(id, UUID) else UUID(id),
        email=email,
        role=role,
        tier=tier,
        services=parse_services(services) if isinstance(services, str) else frozenset(services),
        via=via,
        session_id=session_id if session_id is None or isinstance(session_id, UUID) else UUID(session_id),
        jti=jti,
    )


def parse_services(stored: str) -> frozenset[str]:
    """The ``users.services`` column (comma-separated) as a set."""
    return frozenset(name for name in stored.split(",") if name)


def format_services(services: Iterable[str]) -> str:
    """A set of service names as stored in ``users.services`` (sorted, comma-separated)."""
    return ",".join(sorted(set(services)))
