"""``/admin``: users (list, read, change, delete) and service-call analytics. Guarded by ``requires_admin``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, delete, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from housify_api.accounts.controller import Limit, Offset
from housify_api.accounts.schemas import AdminUserPatch, UserFilter, UserOut
from housify_api.accounts.service import AccountService
from housify_api.auth.guards import requires_admin
from housify_api.auth.identity import AuthUser, Role, ServiceName
from housify_api.billing.admin import LevelAdmin
from housify_api.billing.schemas import GrantIn
from housify_api.errors import ConflictError
from housify_api.pagination import Page
from housify_api.system.error_docs import documented
from housify_api.usage import Analytics, service_call_analytics


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    guards = [requires_admin]

    @get("/users", operation_id="admin_list_users")
    async def list_users(
        self,
        accounts: NamedDependency[AccountService],
        limit: Limit = 50,
        offset: Offset = 0,
        email: Annotated[str | None, Parameter(max_length=320, description="substring, case-insensitive")] = None,
        role: FromQuery[Role | None] = None,
        is_active: FromQuery[bool | None] = None,
        subscription_level: Annotated[str | None, Parameter(max_length=50)] = None,
    ) -> Page[UserOut]:
        """Users, oldest first, filtered by any of the query parameters."""
        query = UserFilter(email=email, role=role, is_active=is_active, subscription_level=subscription_level)
        return await accounts.list_users(query, limit=limit, offset=offset)

    @get("/users/{user_id:uuid}", operation_id="admin_get_user")
    async def get_user(self, user_id: FromPath[UUID], accounts: NamedDependency[AccountService]) -> UserOut:
        return await accounts.me(user_id)

    @patch(
        "/users/{user_id:uuid}",
        operation_id="admin_update_user",
        raises=[documented(409, "email taken, or an admin deactivating or demoting themself")],
    )
    async def update_user(
        self,
        request: Request[AuthUser, Any, Any],
        user_id: FromPath[UUID],
        data: JSONBody[AdminUserPatch],
        accounts: NamedDependency[AccountService],
        level_admin: NamedDependency[LevelAdmin],
    ) -> UserOut:
        """Change ``is_active``, ``role``, ``subscription_level``, ``services`` (the user's AI service access)
        or ``email_verified``. The user's access tokens must be refreshed; deactivation ends their sessions.
        A ``subscription_level`` is a grant for the level's period without payment, audited like
        ``POST /admin/users/{id}/grants``.
        An admin cannot deactivate or demote themself (409), so the service never loses its last admin by accident."""
        if user_id == request.user.id and (data.is_active is False or data.role == "user"):
            raise ConflictError("an admin cannot deactivate or demote their own account")
        if data.subscription_level is not msgspec.UNSET:
            await accounts.me(user_id)  # 404 before anything changes
            grant = GrantIn(level=data.subscription_level, note="PATCH /admin/users/{id}")
            await level_admin.grant(request.user, user_id, grant, field="subscription_level")
        return await accounts.admin_update(user_id, data)

    @delete(
        "/users/{user_id:uuid}",
        operation_id="admin_delete_user",
        status_code=204,
        raises=[documented(409, "an admin cannot delete their own account here")],
    )
    async def delete_user(
        self, request: Request[AuthUser, Any, Any], user_id: FromPath[UUID], accounts: NamedDependency[AccountService]
    ) -> None:
        if user_id == request.user.id:
            raise ConflictError("an admin cannot delete their own account here; use DELETE /users/me")
        await accounts.delete(user_id)

    @get("/analytics/service-calls", operation_id="admin_service_call_analytics")
    async def analytics(
        self,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        service: FromQuery[ServiceName | None] = None,
    ) -> Analytics:
        """Calls grouped by hour of day, day of week and service (default window: the last 30 days)."""
        return await service_call_analytics(since, until, service)
