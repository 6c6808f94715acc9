"""piccolo tables of the accounts app ``housify_api`` (users, levels, sessions, API keys, service calls).

Timestamps are UTC (``Timestamptz``); ids are UUIDs made by piccolo, so the
same migrations run on PostgreSQL and SQLite.
"""

from __future__ import annotations

from piccolo.columns import (
    UUID,
    Boolean,
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class SubscriptionLevel(Table, tablename="subscription_levels"):
    """A plan (docs/design.md "Subscription levels"); ``name`` is what users and tokens carry (``tier``)."""

    name = Varchar(length=50, unique=True)
    price_usd = Numeric(digits=(10, 2))
    upload_size_limit_mb = Integer()
    storage_limit_gb = Integer()
    its = DoublePrecision()
    api_key_limit = Integer()
    requests_hour = Integer()
    watermark = Boolean(default=False)
    #: Days a paid level runs from settlement (or an admin's grant) before it renews or ends.
    period_days = Integer(default=30)


class User(Table, tablename="users"):
    """An account. ``services`` is a comma-separated set of service names (docs/design.md "Access rights")."""

    id = UUID(primary_key=True)
    email = Varchar(length=320, unique=True)
    password_hash = Varchar(length=255)
    full_name = Varchar(length=200, default="")
    # Profile (docs/authentication.md "Sign-up"); rules in housify_api.accounts.profile.
    first_name = Varchar(length=127, default="")
    last_name = Varchar(length=127, default="")
    gender = SmallInt(null=True, default=None)  # ISO/IEC 5218 code
    phone = Varchar(length=16, null=True, default=None)  # E.164
    birth_date = Date(null=True, default=None)
    country = Varchar(length=2, null=True, default=None)  # ISO 3166-1 alpha-2
    role = Varchar(length=16, default="user")
    is_active = Boolean(default=True)
    email_verified = Boolean(default=False)
    subscription_level = Varchar(length=50, default="Free-Tier")
    services = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    last_login_at = Timestamptz(null=True, default=None)


class Session(Table, tablename="sessions"):
    """A refresh-token family: one login, rotated on every refresh.

    Only the SHA-256 of the current refresh token's ``jti`` is kept; a refresh
    presenting any other ``jti`` of this family is a reuse and revokes it.
    """

    id = UUID(primary_key=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade)
    refresh_jti_hash = Varchar(length=64)
    ip = Varchar(length=64, default="")
    user_agent = Varchar(length=400, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    revoked_reason = Varchar(length=32, null=True, default=None)


class ApiKey(Table, tablename="api_keys"):
    """An API key, stored as the SHA-256 of the secret (the key is high-entropy, so no slow hash is needed)."""

    id = UUID(primary_key=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade)
    name = Varchar(length=100)
    prefix = Varchar(length=16)
    key_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    #: Set when a downgrade left the key above the new level's ``api_key_limit`` (housify_api.billing):
    #: a disabled key authenticates nobody until an upgrade enables it again.
    disabled_at = Timestamptz(null=True, default=None)


class ServiceCall(Table, tablename="service_calls"):
    """One call of an AI service (docs/design.md, service-call log): when it was asked for, started, finished, and how it ended."""

    id = UUID(primary_key=True)
    service = Varchar(length=32, index=True)
    user = ForeignKey(references=User, on_delete=OnDelete.set_null, null=True)
    request_time = Timestamptz(default=TimestamptzNow(), index=True)
    start_time = Timestamptz(null=True, default=None)
    completion_time = Timestamptz(null=True, default=None)
    duration_ms = Integer(null=True, default=None)
    success = Boolean(default=False)
    error = Text(null=True, default=None)
