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
under ``/schema`` (OpenAPI, Swagger UI, ReDoc) is public; ``OPTIONS`` and ``HEAD``
requests are not authenticated (Litestar's ``JWTAuth`` default).

Cost: Litestar builds the middleware stack once per route and method, and
:func:`route_auth_middleware` decides there, not per request, which methods of the
route need authentication: a route whose handlers are all public gets no auth layer
at all, and where the auth layer is the route's only middleware the per-route
exception layer Litestar puts under middleware is dropped (the app-level one
resolves the same handlers, and this middleware wraps no ``send``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.datastructures import Headers
from litestar.exceptions import NotAuthorizedException
from litestar.middleware._internal.exceptions.middleware import ExceptionHandlerMiddleware
from litestar.middleware.authentication import AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityRequirement, SecurityScheme
from litestar.routes import ASGIRoute, HTTPRoute, WebSocketRoute
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from housify_api.auth import credentials
from housify_api.auth.credentials import API_KEY_HEADER, Authenticator
from housify_api.auth.identity import AuthUser
from housify_api.auth.tokens import HousifyToken

#: Raw names of the credential headers (ASGI servers give them in lower case) -> the names
#: :func:`credentials.from_headers` asks for.
_CREDENTIAL_HEADERS = {b"authorization": "Authorization", API_KEY_HEADER.lower().encode(): API_KEY_HEADER}


class HousifyAuthMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware plus ``X-API-Key``, with 401 details that say what is missing.

    ``needs_auth`` (from :func:`route_auth_middleware`): the methods of this route that
    need authentication, decided when the stack was built; ``None`` when the route was
    not recognised, and then Litestar's per-request checks (scope type, ``opt``, method,
    path pattern) decide.
    """

    def __init__(
        self, app: ASGIApp, *, authenticator: Authenticator, needs_auth: frozenset[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(app=app, **kwargs)
        self.authenticator = authenticator
        self.needs_auth = needs_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.needs_auth is None:
            await super().__call__(scope, receive, send)
            return
        if scope.get("method", "websocket") in self.needs_auth:
            scope["user"], scope["auth"] = await self._authenticate(scope)
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> tuple[AuthUser, HousifyToken | None]:
        """What :meth:`authenticate_request` does, straight from the scope: the two credential
        headers picked from the raw list (no ``Headers`` of all of them, no connection object)
        and the token checked through the authenticator (cache, claims, revocation)."""
        sent: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name = _CREDENTIAL_HEADERS.get(raw_name.lower())
            if name is not None and name not in sent:
                sent[name] = raw_value.decode("latin-1")
        credential = credentials.from_headers(cast("Headers", sent))
        if credential is None:
            raise NotAuthorizedException(credentials.MISSING)
        kind, value = credential
        if kind == "api_key":
            return await self.authenticator.api_key_user(value), None
        token = self.authenticator.token_cls.decode(value, self.token_secret, self.algorithm)
        user = await self.authenticator.user_from_claims(token)
        await self.authenticator.check_revoked(token)
        return user, token

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        credential = credentials.from_headers(connection.headers)
        if credential is None:
            raise NotAuthorizedException(credentials.MISSING)
        kind, value = credential
        if kind == "api_key":
            return AuthenticationResult(user=await self.authenticator.api_key_user(value), auth=None)
        return await self.authenticate_token(encoded_token=value, connection=connection)


def _route_of(app: ASGIApp) -> tuple[HTTPRoute | WebSocketRoute | ASGIRoute | None, bool]:
    """``(route, wrapped)``: the route whose ``handle`` ``app`` is, directly or under Litestar's
    per-route exception layer (``wrapped``); ``(None, False)`` for anything else."""
    wrapped = isinstance(app, ExceptionHandlerMiddleware)
    inner = cast("ExceptionHandlerMiddleware", app).app if wrapped else app
    route = getattr(inner, "__self__", None)
    if (
        isinstance(route, HTTPRoute | WebSocketRoute | ASGIRoute)
        and getattr(inner, "__func__", None) is type(route).handle
    ):
        return route, wrapped
    return None, False


def route_auth_middleware(app: ASGIApp, **kwargs: Any) -> ASGIApp:
    """The auth layer for one route's stack (a Litestar middleware factory; ``kwargs`` as for
    :class:`HousifyAuthMiddleware`).

    Returns ``app`` itself (or the route's ``handle`` under it) when no method of the route
    needs authentication; otherwise a :class:`HousifyAuthMiddleware` that knows which do.
    """
    route, wrapped = _route_of(app)
    if route is None:
        return HousifyAuthMiddleware(app=app, **kwargs)
    handlers: dict[str, Any]
    if isinstance(route, HTTPRoute):
        handlers = {method: handler for method, (handler, _) in route.route_handler_map.items()}
    else:
        handlers = {"websocket" if isinstance(route, WebSocketRoute) else "asgi": route.route_handler}
    probe = HousifyAuthMiddleware(app=app, **kwargs)
    public_path = probe.exclude is not None and probe.exclude.search(route.path) is not None
    needs = frozenset(
        method
        for method, handler in handlers.items()
        if not public_path
        and not handler.opt.get(probe.exclude_opt_key)
        and method not in (probe.exclude_http_methods or ())
    )
    if "asgi" in needs:  # a mounted ASGI app sees every method: let the per-request checks decide
        return probe
    # Only middleware of the route (Litestar puts its exception layer under middleware for
    # the sake of send wrappers; this one wraps none): the app-level layer suffices.
    alone = wrapped and all(len(handler.resolve_middleware()) == 1 for handler in handlers.values())
    inner: ASGIApp = cast("ExceptionHandlerMiddleware", app).app if alone else app
    if not needs:
        return inner
    return HousifyAuthMiddleware(app=inner, needs_auth=needs, **kwargs)


@dataclass
class HousifyJWTAuth(JWTAuth[AuthUser, HousifyToken]):
    """Documents the OAuth2 password flow at ``/auth/token`` and the API-key header in OpenAPI."""

    authenticator: Authenticator | None = None

    @property
    def middleware(self) -> DefineMiddleware:
        """Litestar's middleware definition (with the authenticator), built per route by :func:`route_auth_middleware`."""
        base = super().middleware
        return DefineMiddleware(
            route_auth_middleware, *base.args, **{**base.kwargs, "authenticator": self.authenticator}
        )

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
