"""Credentials: where a client puts them, and who they say the caller is.

The one place that reads credentials, for the auth middleware, the public
routes that still recognise a caller (``viewer``) and the job-events WebSocket:

- ``Authorization: Bearer <access token>`` (RFC 6750 §2.1),
- ``X-API-Key: hk_…`` (an API key, looked up by its SHA-256),
- on a WebSocket, which browsers cannot give an ``Authorization`` header
  (WHATWG WebSockets: only ``Sec-WebSocket-Protocol`` is under the page's
  control): the subprotocol pair ``bearer, <token>`` (the server answers
  ``bearer``), or either header above. Never the URL: a ``?token=`` lands in
  nginx's and uvicorn's access logs (OWASP ASVS 4.0 §3.1.1; issue 21 item 16).

:class:`Authenticator` turns a credential into an :class:`AuthUser`: an access
token through the app's bound token class (ES512 verified once, cached until
``exp``), its Redis revocation check and the token's claims alone; an API key
through one indexed query.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.exceptions import NotAuthorizedException

from housify_api.auth.digest import sha256_hex
from housify_api.auth.identity import AuthUser, auth_user
from housify_api.auth.tokens import ALGORITHM, HousifyToken
from housify_api.tables import ApiKey

if TYPE_CHECKING:
    from housify_api.auth.revocation import Revocations

API_KEY_HEADER = "X-API-Key"
#: The subprotocol that announces a token in ``Sec-WebSocket-Protocol``.
WEBSOCKET_SUBPROTOCOL = "bearer"
#: API keys are ``hk_`` + 43 URL-safe characters (256 random bits).
API_KEY_PREFIX = "hk_"
#: ``last_used_at`` of a key is written at most this often, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

MISSING = f"missing credentials: send 'Authorization: Bearer <access token>' or '{API_KEY_HEADER}'"
MALFORMED_AUTHORIZATION = "Authorization header must be 'Bearer <access token>'"


#: What a client presented: ``("token", <access token>)`` or ``("api_key", <key>)``. A plain
#: tuple: it is made on every authenticated request, and a NamedTuple or dataclass instance
#: costs several times as much to build (measured: ~0.4 µs against ~2 µs per request).
Credential = tuple[Literal["token", "api_key"], str]


def bearer_token(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` value (scheme case-insensitive).

    Raises:
        NotAuthorizedException: another scheme or no token.
    """
    scheme, _, encoded = authorization.partition(" ")
    encoded = encoded.strip()
    if scheme.lower() != "bearer" or not encoded:
        raise NotAuthorizedException(MALFORMED_AUTHORIZATION)
    return encoded


def from_headers(headers: Headers) -> Credential | None:
    """The credential in ``X-API-Key`` (first) or ``Authorization``; ``None`` when neither is sent.

    ``headers`` is case-insensitive (Litestar's ``Headers``). Raises:
        NotAuthorizedException: a malformed ``Authorization`` header.
    """
    api_key = headers.get(API_KEY_HEADER)
    if api_key:
        return ("api_key", api_key)
    authorization = headers.get("Authorization")
    if not authorization:
        return None
    # bearer_token() inlined: this runs on every authenticated request
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "bearer" or not (encoded := encoded.strip()):
        raise NotAuthorizedException(MALFORMED_AUTHORIZATION)
    return ("token", encoded)


def from_websocket(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[Credential | None, bool]:
    """The credential of a WebSocket handshake and whether the server must answer the ``bearer`` subprotocol.

    Order: the subprotocol pair, ``Authorization: Bearer``, ``X-API-Key`` (a ``?token=`` is ignored).
    A malformed ``Authorization`` header counts as absent here (the token may come another way).
    """
    offered = [str(p).strip() for p in cast("list[str]", connection.scope.get("subprotocols") or [])]
    as_subprotocol = WEBSOCKET_SUBPROTOCOL in offered
    others = [p for p in offered if p != WEBSOCKET_SUBPROTOCOL]
    if as_subprotocol and others:
        return ("token", others[0]), True
    authorization = connection.headers.get("authorization", "")
    if authorization.lower().startswith("bearer ") and authorization[7:].strip():
        return ("token", authorization[7:].strip()), False
    api_key = connection.headers.get(API_KEY_HEADER)
    return (("api_key", api_key) if api_key else None), as_subprotocol


def hash_api_key(key: str) -> str:
    """How an API key is stored and looked up (``api_keys.key_hash``)."""
    return sha256_hex(key)


class Authenticator:
    """Credentials -> :class:`AuthUser`, for one app.

    Args:
        token_cls: the app's bound :class:`HousifyToken` class (its key ring and verified-token cache).
        revocations: the Redis revocation lists, asked for every access token.
    """

    def __init__(self, token_cls: type[HousifyToken], revocations: Revocations) -> None:
        self.token_cls = token_cls
        self.revocations = revocations

    # The two hooks of Litestar's JWT middleware (``retrieve_user_handler``, ``revoked_token_handler``).

    async def user_from_claims(self, token: HousifyToken, connection: Any = None) -> AuthUser:  # noqa: ARG002
        """The caller from a verified access token's claims alone (no database read); built once per token."""
        user: AuthUser | None = token.__dict__.get("_housify_user")
        if user is not None:
            return user
        extras = token.extras
        try:
            user = auth_user(
                id=token.sub,
                email=extras["email"],
                role=extras["role"],
                tier=extras["tier"],
                services=extras["svc"],
                via="token",
                session_id=extras["sid"],
                jti=str(token.jti),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise NotAuthorizedException("access token lacks Housify claims (email, role, tier, svc, sid)") from exc
        token.__dict__["_housify_user"] = user  # the token instance is cached until exp (tokens.HousifyToken)
        return user

    async def check_revoked(self, token: HousifyToken, connection: Any = None) -> bool:  # noqa: ARG002
        """Asked on every request; raises 401 naming why instead of returning ``True``."""
        reason = await self.revocations.reason(
            jti=str(token.jti),
            sid=str(token.extras["sid"]),
            sub=token.sub,
            iat=float(token.extras.get("iat_exact", token.iat.timestamp())),
        )
        if reason:
            raise NotAuthorizedException(reason)
        return False

    # Whole credentials.

    async def token_user(self, encoded: str) -> AuthUser:
        """The caller of an access token, checked exactly as the middleware checks it.

        Raises:
            NotAuthorizedException: (401) naming what is wrong (malformed, expired, revoked, ...).
        """
        token = self.token_cls.decode(encoded, secret="", algorithm=ALGORITHM)
        await self.check_revoked(token)
        return await self.user_from_claims(token)

    async def api_key_user(self, key: str) -> AuthUser:
        """The owner of ``key`` (``via="api_key"``); bumps the key's ``last_used_at`` at most once a minute.

        Raises:
            NotAuthorizedException: unknown key, or the owner's account is disabled.
        """
        if not key.startswith(API_KEY_PREFIX) or len(key) > 100:
            raise NotAuthorizedException("invalid API key")
        row = (
            await ApiKey.select(
                ApiKey.id,
                ApiKey.last_used_at,
                ApiKey.user.id,
                ApiKey.user.email,
                ApiKey.user.role,
                ApiKey.user.subscription_level,
                ApiKey.user.services,
                ApiKey.user.is_active,
            )
            .where((ApiKey.key_hash == hash_api_key(key)) & ApiKey.disabled_at.is_null())
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
        return auth_user(
            id=owner["id"],
            email=owner["email"],
            role=owner["role"],
            tier=owner["subscription_level"],
            services=owner["services"],
            via="api_key",
        )

    async def user(self, credential: Credential) -> AuthUser:
        """The caller a credential names. Raises ``NotAuthorizedException`` (401) naming the problem."""
        kind, value = credential
        if kind == "api_key":
            return await self.api_key_user(value)
        return await self.token_user(value)

    async def optional_user(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthUser | None:
        """The caller on a public route when credentials are sent, ``None`` for an anonymous request.

        Raises:
            NotAuthorizedException: credentials sent but invalid (a wrong token is not "anonymous").
        """
        credential = from_headers(connection.headers)
        return None if credential is None else await self.user(credential)
