"""Bodies of ``/users/me`` and ``/admin/users``. Response types have no secret fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

import msgspec

from housify_api.accounts.profile import PROFILE_FIELDS, Country, Gender, Name, Phone
from housify_api.auth.identity import Role, ServiceName, parse_services
from housify_api.schemas import Email, Input, Output, Password, ShortText


class UserOut(Output):
    """An account. Profile fields a user never gave are ``""`` (names) or ``null``."""

    id: UUID
    email: str
    full_name: str
    first_name: str
    last_name: str
    gender: int | None
    phone: str | None
    birth_date: date | None
    country: str | None
    role: str
    is_active: bool
    email_verified: bool
    subscription_level: str
    services: list[str]
    created_at: datetime
    last_login_at: datetime | None


#: The ``users`` columns that make a :class:`UserOut`: its fields, so the profile's field set is written once.
USER_COLUMNS: tuple[str, ...] = UserOut.__struct_fields__


def user_out(row: dict) -> UserOut:
    """A ``users`` row (dict) as :class:`UserOut`."""
    data = {name: row[name] for name in USER_COLUMNS}
    data["services"] = sorted(parse_services(row["services"]))
    return UserOut(**data)


class ProfilePatch(Input):
    """``PATCH /users/me``: any subset of the profile (``null`` clears an optional field) and/or a new
    address. Rules: ``housify_api.accounts.profile``.

    A new ``email`` needs ``current_password`` (OWASP ASVS 4.0 §3.7.1: re-authenticate before a sensitive
    account change; the address is where password resets go) and takes effect only once the link mailed
    to it is opened; the old address is told (ASVS 4.0 §2.2.3). docs/security.md.
    """

    full_name: ShortText | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    #: The account's password, required with a new ``email``.
    current_password: Password | msgspec.UnsetType = msgspec.UNSET
    first_name: Name | msgspec.UnsetType = msgspec.UNSET
    last_name: Name | msgspec.UnsetType = msgspec.UNSET
    gender: Gender | msgspec.UnsetType | None = msgspec.UNSET
    phone: Phone | msgspec.UnsetType | None = msgspec.UNSET
    birth_date: date | msgspec.UnsetType | None = msgspec.UNSET
    country: Country | msgspec.UnsetType | None = msgspec.UNSET

    def profile(self) -> dict[str, object]:
        """The profile fields that were sent (``email`` is not one)."""
        return {
            name: getattr(self, name)
            for name in ("full_name", *PROFILE_FIELDS)
            if getattr(self, name) is not msgspec.UNSET
        }


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
    #: Set while the key is disabled: a downgrade left it above the level's cap (the newest keys stay).
    disabled_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """Returned once by ``POST /users/me/api-keys``: ``key`` is never shown again (only its hash is stored)."""

    key: str
