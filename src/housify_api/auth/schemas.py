"""Bodies of ``/auth/*``. Token responses use OAuth 2.0's field names (RFC 6749 §5.1)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

from housify_api.accounts.profile import PROFILE_FIELDS, Country, Gender, Name, Phone
from housify_api.schemas import Email, Input, Output, Password, ShortText

OneTimeToken = Annotated[str, msgspec.Meta(min_length=10, max_length=200)]


class RegisterIn(Input):
    """``POST /auth/register``. Password rules: see ``docs/authentication.md``; profile fields
    (all optional) and their rules: ``housify_api.accounts.profile``. Without ``full_name``
    the first and last names make it."""

    email: Email
    password: Password
    full_name: ShortText = ""
    first_name: Name = ""
    last_name: Name = ""
    gender: Gender | None = None
    phone: Phone | None = None
    birth_date: date | None = None
    country: Country | None = None

    def profile(self) -> dict[str, object]:
        """The profile fields (``full_name`` and the others) as sent."""
        return {name: getattr(self, name) for name in ("full_name", *PROFILE_FIELDS)}


class TokenForm(msgspec.Struct, kw_only=True):
    """``POST /auth/token``, form-encoded as OAuth 2.0 asks (RFC 6749 §4.3, §6).

    ``grant_type`` ``password`` (or empty, as the OAuth2 password-flow form of FastAPI clients sends it) uses
    ``username`` (the e-mail address) and ``password``; ``refresh_token`` uses
    ``refresh_token``. ``scope``, ``client_id`` and ``client_secret`` are accepted and ignored.
    """

    grant_type: str = ""
    username: str = ""
    password: str = ""
    refresh_token: str = ""
    scope: str = ""
    client_id: str = ""
    client_secret: str = ""


class TokenPair(Output):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class EmailTokenIn(Input):
    token: OneTimeToken


class ResetRequestIn(Input):
    email: Email


class ResetConfirmIn(Input):
    token: OneTimeToken
    new_password: Password
