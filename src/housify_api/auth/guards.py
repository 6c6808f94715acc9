"""Route guards. Put them on a controller (``guards=[requires_admin]``) or a handler.

``requires_admin``: 403 unless ``request.user.role == "admin"``.
``requires_service(name)``: 403 unless the user may call that AI service
(``name`` in :data:`housify_api.auth.identity.SERVICES`).
``requires_token``: 403 for API-key callers on every route that changes the account
(profile and address, password, plan, API keys, sessions, deletion): an API key is a
credential for the product's features, never for the account (docs/security.md).
Authentication itself (401) is done by the middleware before guards run.
The middleware skips ``OPTIONS`` (Litestar's automatic handler, which only
answers ``Allow``), so there is no user then and every guard lets it through;
a controller-level guard would otherwise raise a 500 on ``OPTIONS``.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from housify_api.auth.identity import SERVICES, AuthUser


def _caller(connection: ASGIConnection[Any, AuthUser, Any, Any]) -> AuthUser | None:
    """The authenticated user, or ``None`` for an unauthenticated ``OPTIONS`` request."""
    scope = connection.scope
    if scope.get("method") == "OPTIONS" and "user" not in scope:
        return None
    return connection.user


def requires_admin(connection: ASGIConnection[Any, AuthUser, Any, Any], _: BaseRouteHandler) -> None:
    """403 ``"admin role required"`` unless the caller is an admin."""
    user = _caller(connection)
    if user is not None and not user.is_admin:
        raise PermissionDeniedException("admin role required")


def requires_token(connection: ASGIConnection[Any, AuthUser, Any, Any], _: BaseRouteHandler) -> None:
    """403 for ``X-API-Key`` callers: the account (address, password, plan, keys, sessions) changes with a
    bearer access token only (OWASP ASVS 4.0 §3.7.1; docs/security.md "Credentials").

    Use it on any handler that changes the account: ``@put(..., guards=[requires_token])``.
    """
    user = _caller(connection)
    if user is not None and user.via != "token":
        raise PermissionDeniedException("this route needs a bearer access token, not an API key")


def requires_service(name: str) -> Guard:
    """A guard that admits users whose access rights include service ``name``.

    Raises:
        ValueError: at import time for a name not in ``SERVICES`` (a typo would otherwise lock everyone out).
    """
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; known: {', '.join(SERVICES)}")

    def guard(connection: ASGIConnection[Any, AuthUser, Any, Any], _: BaseRouteHandler) -> None:
        user = _caller(connection)
        if user is not None and not user.may_use(name):
            raise PermissionDeniedException(f"no access to service {name!r}; an admin can grant it")

    guard.__name__ = f"requires_service_{name}"
    return guard
