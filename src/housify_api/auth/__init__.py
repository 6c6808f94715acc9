"""Identity: tokens, sessions, passwords, API-key authentication and guards.

Public names for other domains (e.g. the media plugin):

- :class:`AuthUser` — ``request.user`` on every authenticated route.
- :data:`SERVICES` — the per-service access names.
- guards :func:`requires_admin`, :func:`requires_service`, :func:`requires_token`.
"""

from housify_api.auth.guards import requires_admin, requires_service, requires_token
from housify_api.auth.identity import SERVICES, AuthUser

__all__ = ["SERVICES", "AuthUser", "requires_admin", "requires_service", "requires_token"]
