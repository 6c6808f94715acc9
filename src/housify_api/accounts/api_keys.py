"""API keys (DESIGN.md §3): random, shown once, stored as SHA-256, capped by the level's ``api_key_limit``.

A key is ``hk_`` + 43 URL-safe characters (256 random bits). A fast hash is
enough for such a secret (nothing to brute-force), and lets a request find its
key with one indexed lookup. ``prefix`` (the first 8 characters after ``hk_``)
is kept in clear so users can tell their keys apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from housify_api.accounts.schemas import ApiKeyCreated, ApiKeyOut
from housify_api.auth.identity import AuthUser, parse_services
from housify_api.plans import level_for_user
from housify_api.tables import ApiKey, User

KEY_PREFIX = "hk_"
#: ``last_used_at`` is written at most this often per key, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def user_for_api_key(key: str) -> AuthUser:
    """The owner of ``key`` as an :class:`AuthUser` (``via="api_key"``).

    Raises:
        NotAuthorizedException: unknown key, or the owner's account is disabled.
    """
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        raise NotAuthorizedException("invalid API key")
    row = (
        await ApiKey.select(
            ApiKey.id, ApiKey.last_used_at, ApiKey.user.id, ApiKey.user.email, ApiKey.user.role,
            ApiKey.user.subscription_level, ApiKey.user.services, ApiKey.user.is_active,
        )
        .where(ApiKey.key_hash == hash_key(key))
        .first()
        .output(nested=True)
    )
    if row is None:
        raise NotAuthorizedException("invalid API key")
    owner = row["user"]
    if not owner["is_active"]:
        raise NotAuthorizedException("account is disabled")
    now = datetime.now(UTC)
    if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USED_RESOLUTION:
        await ApiKey.update({ApiKey.last_used_at: now}).where(ApiKey.id == row["id"])
    return AuthUser(
        id=owner["id"], email=owner["email"], role=owner["role"], tier=owner["subscription_level"],
        services=parse_services(owner["services"]), via="api_key",
    )


_COLUMNS = (ApiKey.id, ApiKey.name, ApiKey.prefix, ApiKey.created_at, ApiKey.last_used_at)


async def list_keys(user_id: UUID) -> list[ApiKeyOut]:
    rows = await ApiKey.select(*_COLUMNS).where(ApiKey.user == user_id).order_by(ApiKey.created_at)
    return [ApiKeyOut(**row) for row in rows]


async def create_key(user_id: UUID, name: str) -> ApiKeyCreated:
    """A new key for ``user_id``.

    Raises:
        PermissionDeniedException: 403 when the user already has ``api_key_limit`` keys (the level's cap).
    """
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(user=user_id, name=name, prefix=key[len(KEY_PREFIX) : len(KEY_PREFIX) + 8], key_hash=hash_key(key))
    # Count and insert under a lock on the user's row, so concurrent requests cannot pass the cap together.
    async with _user_lock(user_id):
        level = await level_for_user(user_id)
        count = await ApiKey.count().where(ApiKey.user == user_id)
        if count >= level.api_key_limit:
            raise PermissionDeniedException(
                f"API key limit reached: {level.name} allows {level.api_key_limit}; delete a key or change plan"
            )
        await row.save()
    return ApiKeyCreated(id=row.id, name=name, prefix=row.prefix, created_at=row.created_at, last_used_at=None, key=key)


@contextlib.asynccontextmanager
async def _user_lock(user_id: UUID) -> AsyncIterator[None]:
    """A transaction holding the user's row: ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite
    (no row locks) an ``IMMEDIATE`` transaction, which takes the database's write lock at once."""
    engine = User._meta.db
    if isinstance(engine, SQLiteEngine):
        async with engine.transaction(transaction_type=TransactionType.immediate):
            yield
        return
    async with engine.transaction():
        await User.select(User.id).where(User.id == user_id).lock_rows()
        yield


async def delete_key(user_id: UUID, key_id: UUID) -> None:
    """Revoke one of the user's keys at once. Raises ``NotFoundException`` for someone else's or no key."""
    deleted = await ApiKey.delete().where((ApiKey.id == key_id) & (ApiKey.user == user_id)).returning(ApiKey.id)
    if not deleted:
        raise NotFoundException("API key not found")


