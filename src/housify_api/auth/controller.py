"""``/auth/*`` and ``/.well-known/jwks.json``: thin handlers over :class:`AuthService`."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import JSONBody, QueryParameter, URLEncodedBody

from housify_api.accounts.schemas import UserOut
from housify_api.auth.cookie import CLEAR_REFRESH_COOKIE, refresh_token_of, token_response
from housify_api.auth.guards import requires_token
from housify_api.auth.identity import AuthUser
from housify_api.auth.schemas import EmailTokenIn, RegisterIn, ResetConfirmIn, ResetRequestIn, TokenForm, TokenPair
from housify_api.auth.service import AuthService
from housify_api.auth.tokens import HousifyToken, KeyRing
from housify_api.schemas import Message
from housify_api.system.error_docs import documented

PUBLIC = {"exclude_from_auth": True}


def client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post(
        "/register",
        opt=PUBLIC,
        operation_id="register",
        status_code=201,
        raises=[
            documented(409, "email: an account with this address already exists"),
            documented(429, "too many sign-ups from this address; see Retry-After"),
        ],
    )
    async def register(
        self, request: Request[Any, Any, Any], data: JSONBody[RegisterIn], auth: NamedDependency[AuthService]
    ) -> UserOut:
        """Create an account (role ``user``, Free-Tier). 409 when the e-mail is taken; 400 naming a broken password
        rule; 429 past the sign-ups per hour of the client's address."""
        return await auth.register(data, client_ip(request))

    @post(
        "/token",
        opt=PUBLIC,
        operation_id="token",
        status_code=200,
        raises=[
            documented(401, "incorrect email or password; or an invalid, revoked or reused refresh token"),
            documented(403, "account is disabled"),
            documented(415, "the body is not application/x-www-form-urlencoded"),
            documented(429, "too many failed logins for this e-mail or address; see Retry-After"),
        ],
    )
    async def token(
        self,
        request: Request[Any, Any, Any],
        data: URLEncodedBody[TokenForm],
        auth: NamedDependency[AuthService],
    ) -> Response[TokenPair]:
        """OAuth2 token endpoint, form-encoded: ``grant_type=password`` (or empty) with ``username``/``password``,
        or ``grant_type=refresh_token`` with ``refresh_token`` (rotated: the old one stops working).
        With the header ``X-Refresh-Cookie: 1`` the refresh token travels in an HttpOnly cookie instead
        (``housify_api.auth.cookie``)."""
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise HTTPException(
                status_code=415,
                detail="send the token request as application/x-www-form-urlencoded (OAuth 2.0, RFC 6749 §4.3.2)",
            )
        user_agent = request.headers.get("user-agent", "")
        if data.grant_type in ("", "password"):
            return token_response(
                request, await auth.login(data.username, data.password, client_ip(request), user_agent)
            )
        if data.grant_type == "refresh_token":
            refresh_token = refresh_token_of(request, data.refresh_token)
            return token_response(request, await auth.refresh(refresh_token, client_ip(request), user_agent))
        raise ValidationException(
            f"grant_type: unsupported {data.grant_type[:40]!r}; use 'password' or 'refresh_token'",
            extra=[{"key": "grant_type", "message": "unsupported_grant_type"}],
        )

    @post(
        "/logout",
        operation_id="logout",
        status_code=200,
        guards=[requires_token],
        response_cookies=[CLEAR_REFRESH_COOKIE],
    )
    async def logout(
        self, request: Request[AuthUser, HousifyToken, Any], auth: NamedDependency[AuthService]
    ) -> Message:
        """End this session: its refresh token and access tokens stop working at once."""
        await auth.logout(request.user, request.auth.exp.timestamp())
        return Message(message="logged out")

    @post(
        "/logout-all",
        operation_id="logout_all",
        status_code=200,
        guards=[requires_token],
        response_cookies=[CLEAR_REFRESH_COOKIE],
    )
    async def logout_all(
        self, request: Request[AuthUser, HousifyToken, Any], auth: NamedDependency[AuthService]
    ) -> Message:
        """End every session of this account (all devices) and delete its API keys."""
        count = await auth.revoke_user_sessions(request.user.id, reason="logout-all")
        keys = await auth.revoke_api_keys(request.user.id)
        return Message(message=f"logged out of {count} session(s); {keys} API key(s) deleted")

    @get("/whoami", operation_id="whoami")
    async def whoami(self, request: Request[AuthUser, Any, Any]) -> AuthUser:
        """Who the credentials say the caller is: the access token's claims (or the API key's owner).
        Reads no database for tokens: the cheapest authenticated route."""
        return request.user

    @post("/verify-email/request", operation_id="request_email_verification", status_code=202)
    async def request_verification(
        self, request: Request[AuthUser, Any, Any], auth: NamedDependency[AuthService]
    ) -> Message:
        """Mail a new verification link to the caller's address."""
        await auth.send_verification(request.user.id, request.user.email)
        return Message(message="verification mail sent")

    @post("/verify-email", opt=PUBLIC, operation_id="verify_email", status_code=200)
    async def verify_email(self, data: JSONBody[EmailTokenIn], auth: NamedDependency[AuthService]) -> Message:
        """Confirm the address with the mailed token. 400 when the token is unknown, used or expired."""
        await auth.verify_email(data.token)
        return Message(message="e-mail address verified")

    @get("/verify-email", opt=PUBLIC, operation_id="verify_email_link")
    async def verify_email_link(
        self, auth: NamedDependency[AuthService], token: Annotated[str, QueryParameter(max_length=200)]
    ) -> Message:
        """The mailed link's target (same as ``POST /auth/verify-email``)."""
        await auth.verify_email(token)
        return Message(message="e-mail address verified")

    @post("/password-reset", opt=PUBLIC, operation_id="request_password_reset", status_code=202)
    async def request_reset(self, data: JSONBody[ResetRequestIn], auth: NamedDependency[AuthService]) -> Message:
        """Mail a reset token if an account has this address; the answer is the same either way."""
        await auth.request_password_reset(data.email)
        return Message(message="if an account exists for this address, a reset mail is on its way")

    @post("/password-reset/confirm", opt=PUBLIC, operation_id="confirm_password_reset", status_code=200)
    async def confirm_reset(self, data: JSONBody[ResetConfirmIn], auth: NamedDependency[AuthService]) -> Message:
        """Set a new password with the mailed token; every session of the account ends."""
        await auth.reset_password(data.token, data.new_password)
        return Message(message="password changed; log in again")


@get("/.well-known/jwks.json", opt={**PUBLIC, "offline": True}, operation_id="jwks", tags=["auth"], cache=60)
async def jwks(keyring: NamedDependency[KeyRing]) -> dict[str, list[dict[str, str]]]:
    """Public keys that verify Housify's tokens (RFC 7517); ``kid`` in a token's header names one."""
    return keyring.jwks()
