"""The error responses every route shares, declared in the OpenAPI schema in one place.

:class:`DocumentedErrors` is a Litestar ``ReceiveRoutePlugin``: as each route is
registered it adds, to each handler's ``raises`` (which only feeds the schema),
the errors that follow from how the route is built rather than from its code:

- 401 :class:`Unauthenticated` unless ``opt["exclude_from_auth"]`` (the auth middleware);
- 403 :class:`Forbidden` when a guard applies (``requires_admin`` and friends);
- 404 :class:`NotFound` when the path has parameters (an unknown or foreign id);
- 503 :class:`Unavailable` unless ``opt["offline"]`` (PostgreSQL or Redis down,
  ``housify_api.errors``).

Route-specific errors (409 on register, 429 over a limit, ...) stay on the
handler's own ``raises=[...]``; a handler's ``responses=`` still wins for its codes.
Every error body is ``{"status_code", "detail", "extra"?}`` (docs/design.md "Errors").
"""

from __future__ import annotations

from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from litestar.handlers import HTTPRouteHandler
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute


class Unauthenticated(NotAuthorizedException):
    detail = "no, invalid, expired or outdated credentials (Bearer token or X-API-Key)"


class Forbidden(PermissionDeniedException):
    detail = "the caller's role, services or credential type does not allow this"


class NotFound(NotFoundException):
    detail = "no such resource visible to the caller"


class Unavailable(ServiceUnavailableException):
    detail = "a dependency (database, Redis) is unavailable; retry after Retry-After seconds"


class DocumentedErrors(ReceiveRoutePlugin):
    """Adds the shared 401/403/404/503 responses to each handler's schema (see the module docstring)."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if isinstance(handler, HTTPRouteHandler) and handler.resolve_include_in_schema():
                handler.raises = [*(handler.raises or ()), *self._shared(route, handler)]

    @staticmethod
    def _shared(route: HTTPRoute, handler: HTTPRouteHandler) -> list[type[HTTPException]]:
        shared: list[type[HTTPException]] = []
        if not handler.opt.get("exclude_from_auth"):
            shared.append(Unauthenticated)
        if handler.resolve_guards():
            shared.append(Forbidden)
        if route.path_parameters:
            shared.append(NotFound)
        if not handler.opt.get("offline"):
            shared.append(Unavailable)
        return shared


def documented(status: int, detail: str) -> type[HTTPException]:
    """An exception class for a handler's ``raises=[...]``: documents ``status`` with ``detail`` in the schema.

    For a route's own errors (``documented(409, "email: taken")``); it is never raised.
    """
    return type(f"Documented{status}", (HTTPException,), {"status_code": status, "detail": detail})
