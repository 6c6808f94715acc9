"""Bodies of ``/users/me`` and ``/admin/users``. Response types have no secret fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from housify_api.auth.identity import Role, ServiceName, parse_services
from housify_api.schemas import Email, Input, Output, Password, ShortText


class UserOut(Output):
    id: UUID
    email: str
    full_name: str
    role: str
    is_active: bool
    email_verified: bool
    subscription_level: str
    services: list[str]
    created_at: datetime
    last_login_at: datetime | None


USER_COLUMNS = ("id", "email", "full_name", "role", "is_active", "email_verified", "subscription_level", "services", "created_at", "last_login_at")


def user_out(row: dict) -> UserOut:
    """A ``users`` row (dict) as :class:`UserOut`."""
    data = {name: row[name] for name in USER_COLUMNS}
    data["services"] = sorted(parse_services(row["services"]))
    return UserOut(**data)


class ProfilePatch(Input):
    """``PATCH /users/me``: change the name or the address (a new address must be verified again)."""

    full_name: ShortText | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET


class PasswordChange(Input):
    current_password: Password
    new_password: Password


class SubscriptionChange(Input):
    """``PUT /users/me/subscription``: the name of a level from ``GET /subscriptions``."""

    subscription_level: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class AdminUserPatch(Input):
    """``PATCH /admin/users/{id}``: any subset of these fields."""

    is_active: bool | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    subscription_level: Annotated[str, msgspec.Meta(min_length=1, max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    services: list[ServiceName] | msgspec.UnsetType = msgspec.UNSET
    email_verified: bool | msgspec.UnsetType = msgspec.UNSET


class UserFilter(msgspec.Struct, kw_only=True, frozen=True):
    """Filters of ``GET /admin/users``; ``None`` means "any"."""

    email: str | None = None
    role: str | None = None
    is_active: bool | None = None
    subscription_level: str | None = None


class ApiKeyIn(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class ApiKeyOut(Output):
    id: UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """Returned once by ``POST /users/me/api-keys``: ``key`` is never shown again (only its hash is stored)."""

    key: str
