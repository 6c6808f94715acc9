"""Authentication for every route not marked public: Litestar's JWT auth, wrapped.

:func:`jwt_auth` builds Litestar's :class:`JWTAuth` with

- the app's bound :class:`~housify_api.auth.tokens.HousifyToken` class (ES512,
  ``kid``, verified-claims cache),
- the :class:`~housify_api.auth.credentials.Authenticator`'s hooks: claims to
  :class:`AuthUser` without a database read, and the Redis revocation check
  on every request,
- :class:`HousifyAuthMiddleware`, which reads credentials through
  :mod:`housify_api.auth.credentials` (so ``X-API-Key`` works too).

Public handlers opt out with ``opt={"exclude_from_auth": True}``; everything
under ``/schema`` (OpenAPI, Swagger UI, ReDoc) is public.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.authentication import AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityRequirement, SecurityScheme
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware
from litestar.types import ASGIApp

from housify_api.auth import credentials
from housify_api.auth.credentials import API_KEY_HEADER, Authenticator
from housify_api.auth.identity import AuthUser
from housify_api.auth.tokens import HousifyToken


class HousifyAuthMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware plus ``X-API-Key``, with 401 details that say what is missing."""

    def __init__(self, app: ASGIApp, *, authenticator: Authenticator, **kwargs: Any) -> None:
        super().__init__(app=app, **kwargs)
        self.authenticator = authenticator

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        credential = credentials.from_headers(connection.headers)
        if credential is None:
            raise NotAuthorizedException(credentials.MISSING)
        kind, value = credential
        if kind == "api_key":
            return AuthenticationResult(user=await self.authenticator.api_key_user(value), auth=None)
        return await self.authenticate_token(encoded_token=value, connection=connection)


@dataclass
class HousifyJWTAuth(JWTAuth[AuthUser, HousifyToken]):
    """Documents the OAuth2 password flow at ``/auth/token`` and the API-key header in OpenAPI."""

    authenticator: Authenticator | None = None

    @property
    def middleware(self) -> DefineMiddleware:
        define = super().middleware
        define.kwargs["authenticator"] = self.authenticator
        return define

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


def jwt_auth(authenticator: Authenticator, access_ttl_seconds: int) -> HousifyJWTAuth:
    """Litestar's JWT auth verifying through ``authenticator`` (its bound token class and revocations)."""
    return HousifyJWTAuth(
        retrieve_user_handler=authenticator.user_from_claims,
        revoked_token_handler=authenticator.check_revoked,
        token_secret="unused: the bound token class verifies through the key ring",  # noqa: S106
        algorithm="ES512",
        token_cls=authenticator.token_cls,
        authentication_middleware_class=HousifyAuthMiddleware,
        default_token_expiration=timedelta(seconds=access_ttl_seconds),
        exclude=["^/schema"],
        authenticator=authenticator,
    )
