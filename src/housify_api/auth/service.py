"""Registration, login, refresh-token rotation, logout, e-mail verification and password reset.

Security decisions and their reasons (docs/design.md "Security rules"):

- Sessions are refresh-token families (``sessions`` table). Only the SHA-256 of
  the current refresh token's ``jti`` is stored. Rotation is one conditional
  ``UPDATE ... WHERE id = sid AND refresh_jti_hash = <presented> AND revoked_at IS NULL``:
  it either moves the family to the new token or changes nothing, so two
  concurrent refreshes cannot both win and nothing is half-written.
- A refresh token that is valid (signature, expiry) but not the family's current
  one has been used before: someone replayed it. The whole family is revoked
  (database and Redis), so the thief's and the victim's tokens stop at once
  (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
- Unknown e-mail and wrong password give the same 401 and take the same time
  (a dummy Argon2 verify), so the login does not reveal which accounts exist;
  password-reset requests answer the same either way for the same reason.
- One-time tokens for verification and reset are random, mailed, and kept in
  Redis as SHA-256 with a TTL; ``GETDEL`` makes them single-use.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)

from housify_api.accounts.profile import check_profile, full_name_of
from housify_api.accounts.schemas import UserOut, user_out
from housify_api.auth.digest import sha256_hex as sha256
from housify_api.auth.identity import SERVICES, AuthUser, format_services, parse_services
from housify_api.auth.limiter import LoginLimiter
from housify_api.auth.passwords import Passwords, password_problem
from housify_api.auth.revocation import Revocations
from housify_api.auth.schemas import RegisterIn, TokenPair
from housify_api.auth.tokens import KeyRing
from housify_api.email import Mailer
from housify_api.errors import ConflictError
from housify_api.media import ratelimit
from housify_api.schemas import normalise_email
from housify_api.settings import ApiSettings
from housify_api.tables import ApiKey, Session, User
from housify_common.redis import RedisClient, RedisKeys

log = logging.getLogger("housify_api.auth")


def _bad_token(rule: str) -> ValidationException:
    return ValidationException(f"token: {rule}", extra=[{"key": "token", "message": rule}])


def check_password(password: str, min_length: int, email: str, field: str = "password") -> None:
    """Raises ``ValidationException`` (400) naming ``field`` and the rule broken."""
    problem = password_problem(password, min_length=min_length, email=email)
    if problem:
        raise ValidationException(f"{field}: {problem}", extra=[{"key": field, "message": problem}])


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthService:
    """Sign-up, sessions and one-time tokens over explicit collaborators (one per app)."""

    settings: ApiSettings
    keyring: KeyRing
    passwords: Passwords
    limiter: LoginLimiter
    mailer: Mailer
    revocations: Revocations
    redis: RedisClient
    keys: RedisKeys

    # registration ------------------------------------------------------------------

    async def register(self, data: RegisterIn, client: str = "") -> UserOut:
        """A new ``user``-role account on the Free-Tier with every service; mails a verification link.

        At most ``signup_max_per_hour`` sign-ups per ``client`` address in a rolling hour. A taken
        address stays a 409 (sign-up goes straight into Create; docs/security.md "Account enumeration"):
        this limit is what bounds probing addresses with it.

        Raises:
            TooManyRequestsException: 429 with ``Retry-After`` past the sign-ups of this client.
            ValidationException: a password or profile rule is broken (400, names the field and rule).
            ConflictError: the address is taken (409).
        """
        email = normalise_email(data.email)
        if client:
            key = self.keys.key("signup", client)
            decision = await ratelimit.take(self.redis, key, self.settings.signup_max_per_hour)
            if not decision.allowed:
                raise TooManyRequestsException(
                    f"too many sign-ups from your address; try again in {decision.reset_after} s",
                    headers=decision.headers(),
                )
        check_password(data.password, self.settings.password_min_length, email)
        profile = check_profile(data.profile())
        profile["full_name"] = profile["full_name"] or full_name_of(profile["first_name"], profile["last_name"])
        if await User.exists().where(User.email == email):
            raise ConflictError("email: an account with this address already exists")
        user = User(
            email=email,
            password_hash=await self.passwords.hash(data.password),
            services=format_services(SERVICES),
            **profile,
        )
        await user.save()  # a concurrent duplicate ends as a unique violation -> 409 (errors.py)
        await self.send_verification(user.id, email)
        return user_out(user.to_dict())

    async def _may_mail(self, to: str) -> bool:
        """Whether another mail may go to ``to`` this hour (``mail_per_recipient_hour``); logs a refusal."""
        key = self.keys.key("mail-to", sha256(to.strip().lower()))
        decision = await ratelimit.take(self.redis, key, self.settings.mail_per_recipient_hour)
        if not decision.allowed:
            log.warning("mail to %s dropped: %d this hour already", to, self.settings.mail_per_recipient_hour)
        return decision.allowed

    async def create_user(self, email: str, password: str, *, role: str = "user", verified: bool = False) -> UUID:
        """An account made by the system (superuser bootstrap); same rules as registration."""
        email = normalise_email(email)
        check_password(password, self.settings.password_min_length, email)
        user = User(
            email=email,
            password_hash=await self.passwords.hash(password),
            role=role,
            email_verified=verified,
            services=format_services(SERVICES),
        )
        await user.save()
        return user.id

    # tokens ------------------------------------------------------------------------

    async def login(self, username: str, password: str, ip: str, user_agent: str) -> TokenPair:
        """OAuth2 password grant. 429 when limited, 401 for bad credentials, 403 for a disabled account."""
        email = normalise_email(username)
        if not email or not password:
            raise ValidationException("username and password are required for grant_type=password")
        attempt = await self.limiter.reserve(email, ip)  # before the hash: parallel guesses cannot overtake it
        row = await User.select().where(User.email == email).first()
        ok, new_hash = await self.passwords.verify(row["password_hash"] if row else None, password)
        if not ok or row is None:
            await self.limiter.failed(attempt)
            raise NotAuthorizedException("incorrect email or password")
        await self.limiter.succeeded(attempt)
        if not row["is_active"]:
            raise PermissionDeniedException("account is disabled")
        user_agent = user_agent[:400]
        known_device = await Session.exists().where(
            (Session.user == row["id"]) & (Session.ip == ip) & (Session.user_agent == user_agent)
        )
        now = datetime.now(UTC)
        changes: dict[Any, Any] = {User.last_login_at: now}
        if new_hash:
            changes[User.password_hash] = new_hash
        await User.update(changes).where(User.id == row["id"])
        pair = await self._start_session(row, ip, user_agent)
        if not known_device and await self._may_mail(email):
            self.mailer.login_notice(email, ip, user_agent, now.strftime("%Y-%m-%d %H:%M UTC"))
        return pair

    async def _start_session(self, user: dict, ip: str, user_agent: str) -> TokenPair:
        session_id = uuid4()
        refresh, claims = self.keyring.issue(
            "refresh", str(user["id"]), str(session_id), self.settings.refresh_token_ttl_seconds
        )
        await Session.insert(
            Session(
                id=session_id,
                user=user["id"],
                refresh_jti_hash=sha256(claims["jti"]),
                ip=ip,
                user_agent=user_agent,
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        )
        return self._pair(user, session_id, refresh)

    def _pair(self, user: dict, session_id: UUID, refresh: str) -> TokenPair:
        access, _ = self.keyring.issue(
            "access",
            str(user["id"]),
            str(session_id),
            self.settings.access_token_ttl_seconds,
            role=user["role"],
            tier=user["subscription_level"],
            email=user["email"],
            svc=sorted(parse_services(user["services"])),
        )
        return TokenPair(
            access_token=access,
            token_type="bearer",
            expires_in=self.settings.access_token_ttl_seconds,
            refresh_token=refresh,
            refresh_expires_in=self.settings.refresh_token_ttl_seconds,
        )

    async def refresh(self, refresh_token: str, ip: str, user_agent: str) -> TokenPair:
        """Rotate: a new access + refresh token for a current refresh token (module docstring).

        Raises:
            NotAuthorizedException: invalid/expired token, ended session, or reuse (which ends the session).
        """
        if not refresh_token:
            raise ValidationException("refresh_token is required for grant_type=refresh_token")
        claims = self.keyring.verify(refresh_token, "refresh")
        try:
            session_id = UUID(claims["sid"])
        except ValueError as exc:
            raise NotAuthorizedException("invalid token: bad sid claim") from exc
        new_refresh, new_claims = self.keyring.issue(
            "refresh", claims["sub"], str(session_id), self.settings.refresh_token_ttl_seconds
        )
        rotated = (
            await Session.update(
                {
                    Session.refresh_jti_hash: sha256(new_claims["jti"]),
                    Session.last_used_at: datetime.now(UTC),
                    Session.expires_at: datetime.fromtimestamp(new_claims["exp"], UTC),
                    Session.ip: ip,
                    Session.user_agent: user_agent[:400],
                }
            )
            .where(
                (Session.id == session_id)
                & (Session.refresh_jti_hash == sha256(claims["jti"]))
                & Session.revoked_at.is_null()
            )
            .returning(Session.user)
        )
        if not rotated:
            session = await Session.select(Session.revoked_at).where(Session.id == session_id).first()
            if session is None:
                raise NotAuthorizedException("session not found: log in again")
            if session["revoked_at"] is not None:
                raise NotAuthorizedException("session has been revoked: log in again")
            await self.revoke_sessions([session_id], reason="reuse")
            log.warning("refresh token reuse: session %s of user %s revoked (ip %s)", session_id, claims["sub"], ip)
            raise NotAuthorizedException("refresh token reuse detected: the session has been revoked, log in again")
        user = await User.select().where(User.id == rotated[0]["user"]).first()
        if user is None or not user["is_active"]:
            await self.revoke_sessions([session_id], reason="disabled")
            raise NotAuthorizedException("account is disabled or deleted")
        return self._pair(user, session_id, new_refresh)

    # ending sessions ---------------------------------------------------------------------

    async def revoke_sessions(self, session_ids: list[UUID], reason: str) -> None:
        """End these families: no refresh works any more, their access tokens are refused at once."""
        if not session_ids:
            return
        await Session.update({Session.revoked_at: datetime.now(UTC), Session.revoked_reason: reason}).where(
            Session.id.is_in(session_ids) & Session.revoked_at.is_null()
        )
        await self.revocations.revoke_sessions(session_ids)

    async def revoke_user_sessions(self, user_id: UUID, reason: str, keep: UUID | None = None) -> int:
        """End every open session of ``user_id`` except ``keep``; returns how many."""
        where = (Session.user == user_id) & Session.revoked_at.is_null()
        if keep is not None:
            where &= Session.id != keep
        ids = [row["id"] for row in await Session.select(Session.id).where(where)]
        await self.revoke_sessions(ids, reason)
        return len(ids)

    async def logout(self, user: AuthUser, token_exp: float) -> None:
        """End the caller's session (its refresh token and every access token of it)."""
        if user.session_id is not None:
            await self.revoke_sessions([user.session_id], reason="logout")
        if user.jti:
            await self.revocations.revoke_token(user.jti, token_exp)

    @staticmethod
    async def purge_expired_sessions(older_than: timedelta = timedelta(days=1)) -> int:
        """Delete sessions whose refresh token expired more than ``older_than`` ago; returns how many.

        They can no longer be used (the refresh JWT has expired). Sessions also remember
        known devices for login notices, so a device unused for longer counts as new again.
        """
        deleted = (
            await Session.delete().where(Session.expires_at < datetime.now(UTC) - older_than).returning(Session.id)
        )
        return len(deleted)

    # one-time mailed tokens -----------------------------------------------------------

    async def _issue_one_time(self, purpose: str, user_id: UUID, ttl: int, email: str) -> str:
        """A random token kept as ``<user id> <address>`` under its SHA-256: it is good for that address only."""
        token = secrets.token_urlsafe(32)
        await self.redis.set(self.keys.key(purpose, sha256(token)), f"{user_id} {email}", ex=ttl)
        return token

    async def _consume_one_time(self, purpose: str, token: str) -> tuple[UUID, str] | None:
        """``(user id, address)`` of an unused token of ``purpose`` (then used up); ``None`` when there is none."""
        value = await self.redis.getdel(self.keys.key(purpose, sha256(token)))
        if value is None:
            return None
        user_id, _, email = (value.decode() if isinstance(value, bytes) else value).partition(" ")
        return UUID(user_id), email

    async def send_verification(self, user_id: UUID, email: str) -> None:
        """Mail a link that verifies ``email`` for ``user_id`` while it is the account's address."""
        token = await self._issue_one_time("verify-email", user_id, self.settings.email_verification_ttl_seconds, email)
        if await self._may_mail(email):
            self.mailer.verification(email, token)

    async def request_email_change(self, user_id: UUID, old_email: str, new_email: str) -> None:
        """Mail ``new_email`` a link that makes it the account's address, and tell ``old_email``.

        Until the link is opened the account keeps ``old_email`` (logins, resets, notices):
        a stolen session cannot move the account to an address nobody verified (docs/security.md).
        """
        token = await self._issue_one_time(
            "email-change", user_id, self.settings.email_verification_ttl_seconds, new_email
        )
        if await self._may_mail(new_email):
            self.mailer.verification(new_email, token)
        if await self._may_mail(old_email):
            self.mailer.email_change_notice(old_email, new_email)

    async def verify_email(self, token: str) -> None:
        """Use a mailed token: verify the address it was sent to, or switch the account to it (an address change).

        Raises:
            ValidationException: 400 ``token``: unknown, used or expired; or the account's address
                is no longer the one the token was mailed to.
            ConflictError: 409 when another account took the new address meanwhile.
        """
        change = await self._consume_one_time("email-change", token)
        if change is not None:
            user_id, new_email = change
            if await User.exists().where((User.email == new_email) & (User.id != user_id)):
                raise ConflictError("email: an account with this address already exists")
            await User.update(
                {User.email: new_email, User.email_verified: True, User.updated_at: datetime.now(UTC)}
            ).where(User.id == user_id)
            await self.revocations.revoke_user_tokens(user_id)  # access tokens carry the address
            return
        verification = await self._consume_one_time("verify-email", token)
        if verification is None:
            raise _bad_token("unknown, used or expired")
        user_id, email = verification
        updated = (
            await User.update({User.email_verified: True, User.updated_at: datetime.now(UTC)})
            .where((User.id == user_id) & (User.email == email))
            .returning(User.id)
        )
        if not updated:
            raise _bad_token("mailed to an address this account no longer uses")

    async def check_current_password(self, user_id: UUID, password: str, client: str) -> dict[str, Any]:
        """The user's row when ``password`` is the account's password; counted like a login guess.

        ``client`` names who asks (the session): a stolen access token is no way around the login limits.

        Raises:
            ValidationException: 400 ``current_password: incorrect``.
            TooManyRequestsException: 429 past the limits of :class:`LoginLimiter`.
            NotFoundException: 404 when the account is gone.
        """
        row = await User.select().where(User.id == user_id).first()
        if row is None:
            raise NotFoundException("user not found")
        attempt = await self.limiter.reserve(row["email"], client)
        ok, _ = await self.passwords.verify(row["password_hash"], password)
        if not ok:
            await self.limiter.failed(attempt)
            raise ValidationException(
                "current_password: incorrect", extra=[{"key": "current_password", "message": "incorrect"}]
            )
        await self.limiter.succeeded(attempt)
        return row

    async def revoke_api_keys(self, user_id: UUID) -> int:
        """Delete every API key of ``user_id`` (log-out-everywhere, password reset); returns how many."""
        return len(await ApiKey.delete().where(ApiKey.user == user_id).returning(ApiKey.id))

    async def request_password_reset(self, email: str) -> None:
        """Mails a reset token when the account exists; the caller answers the same either way."""
        row = await User.select(User.id, User.is_active).where(User.email == normalise_email(email)).first()
        if row is not None and row["is_active"] and await self._may_mail(normalise_email(email)):
            token = await self._issue_one_time(
                "password-reset", row["id"], self.settings.password_reset_ttl_seconds, normalise_email(email)
            )
            self.mailer.password_reset(normalise_email(email), token)

    async def reset_password(self, token: str, new_password: str) -> None:
        """Sets the new password, ends every session and deletes every API key (whoever knew the old password
        or took a key is out: a reset follows a suspected compromise, docs/security.md)."""
        key = self.keys.key("password-reset", sha256(token))
        raw = await self.redis.get(key)
        if raw is None:
            raise _bad_token("unknown, used or expired")
        user = (
            await User.select(User.id, User.email)
            .where(User.id == UUID((raw.decode() if isinstance(raw, bytes) else raw).partition(" ")[0]))
            .first()
        )
        if user is None:
            raise _bad_token("the account no longer exists")
        check_password(new_password, self.settings.password_min_length, user["email"], field="new_password")
        if await self._consume_one_time("password-reset", token) is None:
            raise _bad_token("unknown, used or expired")
        await self.set_password(user["id"], new_password)
        await self.revoke_user_sessions(user["id"], reason="password-reset")
        await self.revoke_api_keys(user["id"])

    async def set_password(self, user_id: UUID, password: str) -> None:
        await User.update(
            {User.password_hash: await self.passwords.hash(password), User.updated_at: datetime.now(UTC)}
        ).where(User.id == user_id)
