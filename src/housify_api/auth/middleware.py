"""Authentication for every route not marked public: Litestar's JWT auth, wrapped.

:func:`jwt_auth` builds Litestar's :class:`JWTAuth` with

- a :class:`~housify_api.auth.tokens.HousifyToken` class bound to the app's key
  ring (ES512, ``kid``, verified-claims cache),
- ``retrieve_user_handler`` turning the claims into an :class:`AuthUser`
  without a database read,
- ``revoked_token_handler`` asking Redis (:class:`Revocations`) on every request,
- :class:`HousifyAuthMiddleware`, which also accepts ``X-API-Key``.

Public handlers opt out with ``opt={"exclude_from_auth": True}``; everything
under ``/schema`` (OpenAPI, Swagger UI, ReDoc) is public.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.authentication import AuthenticationResult
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityRequirement, SecurityScheme
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware

from housify_api.auth.identity import AuthUser
from housify_api.auth.tokens import HousifyToken

API_KEY_HEADER = "X-API-Key"


async def user_from_claims(token: HousifyToken, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthUser:
    """The caller from a verified access token's claims alone (no database read); built once per token."""
    user = token.__dict__.get("_housify_user")
    if user is not None:
        return user
    extras = token.extras
    try:
        user = AuthUser(
            id=UUID(token.sub),
            email=extras["email"],
            role=extras["role"],
            tier=extras["tier"],
            services=frozenset(extras["svc"]),
            via="token",
            session_id=UUID(extras["sid"]),
            jti=str(token.jti),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise NotAuthorizedException("access token lacks Housify claims (email, role, tier, svc, sid)") from exc
    token.__dict__["_housify_user"] = user  # the token instance is cached until exp (tokens.HousifyToken)
    return user


async def token_revoked(token: HousifyToken, connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Checked on every request; raises 401 naming why instead of returning ``True``."""
    reason = await connection.app.state.revocations.reason(
        jti=str(token.jti), sid=str(token.extras["sid"]), sub=token.sub, iat=float(token.extras.get("iat_exact", token.iat.timestamp()))
    )
    if reason:
        raise NotAuthorizedException(reason)
    return False


class HousifyAuthMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware plus ``X-API-Key``, with 401 details that say what is missing."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        api_key = connection.headers.get(API_KEY_HEADER)
        if api_key:
            from housify_api.accounts.api_keys import user_for_api_key

            return AuthenticationResult(user=await user_for_api_key(api_key), auth=None)
        header = connection.headers.get("Authorization")
        if not header:
            raise NotAuthorizedException(f"missing credentials: send 'Authorization: Bearer <access token>' or '{API_KEY_HEADER}'")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "bearer" or not encoded.strip():
            raise NotAuthorizedException("Authorization header must be 'Bearer <access token>'")
        return await self.authenticate_token(encoded_token=encoded.strip(), connection=connection)


@dataclass
class HousifyJWTAuth(JWTAuth[AuthUser, HousifyToken]):
    """Documents the OAuth2 password flow at ``/auth/token`` and the API-key header in OpenAPI."""

    @property
    def openapi_components(self) -> Components:
        return Components(
            security_schemes={
                "OAuth2": SecurityScheme(
                    type="oauth2",
                    description="ES512 access token from POST /auth/token (password or refresh_token grant).",
                    flows=OAuthFlows(password=OAuthFlow(token_url="/auth/token", scopes={})),
                ),
                "ApiKey": SecurityScheme(type="apiKey", name=API_KEY_HEADER, security_scheme_in="header"),
            }
        )

    @property
    def security_requirement(self) -> SecurityRequirement:
        return {"OAuth2": []}


def jwt_auth(token_cls: type[HousifyToken], public_pem: str, access_ttl_seconds: int) -> HousifyJWTAuth:
    """Litestar's JWT auth for the app whose bound token class (``app.state.token_cls``) is ``token_cls``."""
    return HousifyJWTAuth(
        retrieve_user_handler=user_from_claims,
        revoked_token_handler=token_revoked,
        token_secret=public_pem,  # unused: the bound token class verifies through the key ring
        algorithm="ES512",
        token_cls=token_cls,
        authentication_middleware_class=HousifyAuthMiddleware,
        default_token_expiration=timedelta(seconds=access_ttl_seconds),
        exclude=["^/schema"],
    )
