"""The signed-in user's own account: profile, password, plan, deletion; also the admin's user management."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar.exceptions import NotFoundException, ValidationException
from piccolo.columns.combination import Combinable

from housify_api.accounts.profile import check_profile
from housify_api.accounts.schemas import (
    USER_COLUMNS,
    AdminUserPatch,
    PasswordChange,
    ProfilePatch,
    UserFilter,
    UserOut,
    user_out,
)
from housify_api.auth.identity import AuthUser, format_services
from housify_api.auth.revocation import Revocations
from housify_api.auth.service import AuthService, check_password
from housify_api.errors import ConflictError
from housify_api.pagination import Page
from housify_api.plans.service import LevelService
from housify_api.schemas import normalise_email
from housify_api.settings import ApiSettings
from housify_api.tables import User

#: Run before an account's row is deleted, with its id (e.g. the media domain removes the picture files).
DeletionHook = Callable[[UUID], Awaitable[object]]


_PROFILE_SQL = f"SELECT {', '.join(USER_COLUMNS)} FROM {User._meta.tablename} WHERE id = {{}}"
_PROFILE_SQL_ASYNCPG = _PROFILE_SQL.format("$1")


async def _profile_row(user_id: UUID) -> Any:
    """The ``USER_COLUMNS`` of one user (a mapping by column name), or ``None``.

    On PostgreSQL with the pool running and no piccolo transaction open in this task,
    straight through asyncpg's pool (the statement is prepared once per connection):
    piccolo's query object and row dicts were a third of the database time of
    ``GET /users/me`` (py-spy, ``bench/README.md``). Otherwise (SQLite, no pool yet,
    inside a transaction) through piccolo, which picks the right connection.
    """
    engine = User._meta.db
    pool = getattr(engine, "pool", None)
    if pool is not None and engine.current_transaction.get() is None:
        return await pool.fetchrow(_PROFILE_SQL_ASYNCPG, user_id)
    rows = await User.raw(_PROFILE_SQL, user_id)
    return rows[0] if rows else None


def _client(user: AuthUser) -> str:
    """Who re-enters a password, for the guess limits: the session (an access token's ``sid``)."""
    return f"session:{user.session_id}"


async def get_user_row(user_id: UUID) -> dict[str, Any]:
    """The ``users`` row; 404 when there is none (e.g. deleted while a token was still valid)."""
    row = await User.select().where(User.id == user_id).first()
    if row is None:
        raise NotFoundException("user not found")
    return row


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountService:
    """Accounts over explicit collaborators; ``deletion_hooks`` run before a user row goes."""

    auth: AuthService
    levels: LevelService
    revocations: Revocations
    settings: ApiSettings
    deletion_hooks: Sequence[DeletionHook] = ()

    async def me(self, user_id: UUID) -> UserOut:
        """The profile, read with one prepared-shape query: ``GET /users/me`` is the hottest
        database route, and piccolo's query building doubled its CPU cost (300 vs 160 µs measured)."""
        row = await _profile_row(user_id)
        if row is None:
            raise NotFoundException("user not found")
        return user_out(row)

    async def update_profile(self, user: AuthUser, data: ProfilePatch) -> UserOut:
        """Change profile fields and/or ask for a new address.

        A new ``email`` needs ``current_password``; the account keeps its address until the link mailed
        to the new one is opened (``AuthService.verify_email``), and the old address is told at once.

        Raises:
            ValidationException: 400 naming a field that breaks its rule (``housify_api.accounts.profile``),
                ``current_password`` missing or incorrect with a new ``email``.
            ConflictError: 409 when the new address is taken.
            TooManyRequestsException: 429: wrong passwords count like login guesses.
        """
        changes: dict[Any, Any] = {}
        for name, value in check_profile(data.profile()).items():
            changes[getattr(User, name)] = value
        new_email = None
        if data.email is not msgspec.UNSET and normalise_email(data.email) != user.email:
            new_email = normalise_email(data.email)
            if data.current_password is msgspec.UNSET:
                raise ValidationException(
                    "current_password: required to change the e-mail address",
                    extra=[{"key": "current_password", "message": "required to change the e-mail address"}],
                )
            row = await self.auth.check_current_password(user.id, data.current_password, _client(user))
            if new_email == row["email"]:
                new_email = None
            elif await User.exists().where(User.email == new_email):
                raise ConflictError("email: an account with this address already exists")
        if changes:
            changes[User.updated_at] = datetime.now(UTC)
            await User.update(changes).where(User.id == user.id)
        if new_email:
            await self.auth.request_email_change(user.id, row["email"], new_email)
        return await self.me(user.id)

    async def change_password(self, user: AuthUser, data: PasswordChange) -> int:
        """Check the current password, set the new one, end every other session; returns how many ended.

        API keys stay: the caller proved the password and keeps control (docs/security.md); a reset
        or log-out-everywhere deletes them.
        """
        row = await self.auth.check_current_password(user.id, data.current_password, _client(user))
        check_password(data.new_password, self.settings.password_min_length, row["email"], field="new_password")
        await self.auth.set_password(user.id, data.new_password)
        return await self.auth.revoke_user_sessions(user.id, reason="password-change", keep=user.session_id)

    async def delete(self, user_id: UUID) -> None:
        """Delete the account; its sessions and API keys go with it (cascade) and its tokens stop at once.

        Each of ``deletion_hooks`` runs first, so other domains can remove what rows
        alone do not hold (the media domain deletes the account's picture files).
        """
        await get_user_row(user_id)
        await self.auth.revoke_user_sessions(user_id, reason="deleted")
        for hook in self.deletion_hooks:
            await hook(user_id)
        await User.delete().where(User.id == user_id)
        await self.revocations.revoke_user_tokens(user_id)

    async def list_users(self, query: UserFilter, *, limit: int, offset: int) -> Page[UserOut]:
        """Users, oldest first, matching every filter that is set; ``email`` is a case-insensitive substring."""
        where: Combinable = User.id.is_not_null()
        if query.email:
            where &= User.email.ilike(f"%{query.email.lower()}%")
        if query.role:
            where &= User.role == query.role
        if query.is_active is not None:
            where &= User.is_active == query.is_active
        if query.subscription_level:
            where &= User.subscription_level == query.subscription_level
        rows = await User.select().where(where).order_by(User.created_at).limit(limit).offset(offset)
        total = await User.count().where(where)
        return Page(items=[user_out(row) for row in rows], total=total, limit=limit, offset=offset)

    async def admin_update(self, user_id: UUID, data: AdminUserPatch) -> UserOut:
        """Apply an admin's changes. Tokens of the user are refreshed to new claims (not for ``email_verified``, which no
        token carries); deactivation ends sessions.

        ``subscription_level`` is not applied here: the admin route makes it a grant (housify_api.billing.admin)."""
        await get_user_row(user_id)
        changes: dict[Any, Any] = {User.updated_at: datetime.now(UTC)}
        if data.is_active is not msgspec.UNSET:
            changes[User.is_active] = data.is_active
        if data.role is not msgspec.UNSET:
            changes[User.role] = data.role
        if data.services is not msgspec.UNSET:
            changes[User.services] = format_services(data.services)
        if data.email_verified is not msgspec.UNSET:
            changes[User.email_verified] = data.email_verified
        if len(changes) == 1:  # nothing but updated_at: an empty PATCH changes nothing
            return await self.me(user_id)
        await User.update(changes).where(User.id == user_id)
        if data.is_active is False:
            await self.auth.revoke_user_sessions(user_id, reason="disabled")
        if set(changes) - {User.updated_at, User.email_verified}:  # access tokens carry none of these two
            await self.revocations.revoke_user_tokens(user_id)
        return await self.me(user_id)
