"""Managing API keys (docs/design.md "Security rules"): random, shown once, stored as SHA-256,
capped by the level's ``api_key_limit``.

A key is ``hk_`` + 43 URL-safe characters (256 random bits). A fast hash is
enough for such a secret (nothing to brute-force), and lets a request find its
key with one indexed lookup (authentication: ``housify_api.auth.credentials``).
``prefix`` (the first 8 characters after ``hk_``) is kept in clear so users can
tell their keys apart.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from litestar.exceptions import NotFoundException, PermissionDeniedException
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from housify_api.accounts.schemas import ApiKeyCreated, ApiKeyOut
from housify_api.auth.credentials import API_KEY_PREFIX, hash_api_key
from housify_api.plans.service import LevelService
from housify_api.tables import ApiKey, User

_COLUMNS = (ApiKey.id, ApiKey.name, ApiKey.prefix, ApiKey.created_at, ApiKey.last_used_at, ApiKey.disabled_at)


@dataclass(frozen=True, slots=True)
class ApiKeyService:
    """A user's API keys; ``levels`` gives the cap (``api_key_limit``)."""

    levels: LevelService

    async def list(self, user_id: UUID) -> list[ApiKeyOut]:
        rows = await ApiKey.select(*_COLUMNS).where(ApiKey.user == user_id).order_by(ApiKey.created_at)
        return [ApiKeyOut(**row) for row in rows]

    async def create(self, user_id: UUID, name: str) -> ApiKeyCreated:
        """A new key for ``user_id``.

        Raises:
            PermissionDeniedException: 403 when the user already has ``api_key_limit`` keys (the level's cap).
        """
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        prefix = key[len(API_KEY_PREFIX) : len(API_KEY_PREFIX) + 8]
        row = ApiKey(user=user_id, name=name, prefix=prefix, key_hash=hash_api_key(key))
        # Count and insert under a lock on the user's row, so concurrent requests cannot pass the cap together.
        async with user_lock(user_id):
            level = await self.levels.for_user(user_id)
            count = await ApiKey.count().where(ApiKey.user == user_id)
            if count >= level.api_key_limit:
                raise PermissionDeniedException(
                    f"API key limit reached: {level.name} allows {level.api_key_limit}; delete a key or change plan"
                )
            await row.save()
        return ApiKeyCreated(
            id=row.id,
            name=name,
            prefix=row.prefix,
            created_at=row.created_at,
            last_used_at=None,
            disabled_at=None,
            key=key,
        )

    async def delete(self, user_id: UUID, key_id: UUID) -> None:
        """Revoke one of the user's keys at once. Raises ``NotFoundException`` for someone else's or no key."""
        deleted = await ApiKey.delete().where((ApiKey.id == key_id) & (ApiKey.user == user_id)).returning(ApiKey.id)
        if not deleted:
            raise NotFoundException("API key not found")


@contextlib.asynccontextmanager
async def user_lock(user_id: UUID) -> AsyncIterator[None]:
    """Serialises changes of one account's level and keys (API key cap, billing): a transaction holding the user's row: ``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite
    (no row locks) an ``IMMEDIATE`` transaction, which takes the database's write lock at once."""
    engine = User._meta.db
    if isinstance(engine, SQLiteEngine):
        async with engine.transaction(transaction_type=TransactionType.immediate):
            yield
        return
    async with engine.transaction():
        await User.select(User.id).where(User.id == user_id).lock_rows()
        yield
