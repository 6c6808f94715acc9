"""``/users/me``: the caller's own account.

Routes that change the account (profile and address, password, plan, API keys, deletion) need a
bearer access token: an API key never changes the account (``requires_token``, docs/security.md).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from housify_api.accounts.api_keys import ApiKeyService
from housify_api.accounts.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    PasswordChange,
    ProfilePatch,
    UserOut,
)
from housify_api.accounts.service import AccountService
from housify_api.auth.guards import requires_token
from housify_api.auth.identity import AuthUser
from housify_api.schemas import Message
from housify_api.system.error_docs import documented
from housify_api.usage import Usage, user_usage

Me = Request[AuthUser, Any, Any]
Limit = Annotated[int, Parameter(ge=1, le=200, description="page size")]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000, description="items to skip")]


class MeController(Controller):
    path = "/users/me"
    tags = ["me"]

    @get("", operation_id="get_me")
    async def get_me(self, request: Me, accounts: NamedDependency[AccountService]) -> UserOut:
        """The caller's account as stored now (database read)."""
        return await accounts.me(request.user.id)

    @patch(
        "",
        operation_id="update_me",
        guards=[requires_token],
        raises=[
            documented(409, "email: an account with this address already exists"),
            documented(429, "too many wrong current_password attempts; see Retry-After"),
        ],
    )
    async def update_me(
        self, request: Me, data: JSONBody[ProfilePatch], accounts: NamedDependency[AccountService]
    ) -> UserOut:
        """Change profile fields (names, gender, phone, birth date, country) and/or ask for a new ``email``.

        A new ``email`` needs ``current_password``; it becomes the account's address once the link
        mailed to it is opened (until then the answer still shows the old one), and the old address
        is told. 403 with an API key: keys never change the account."""
        return await accounts.update_profile(request.user, data)

    @delete("", operation_id="delete_me", guards=[requires_token], status_code=204)
    async def delete_me(self, request: Me, accounts: NamedDependency[AccountService]) -> None:
        """Delete the account, its sessions and API keys; its tokens stop working at once."""
        await accounts.delete(request.user.id)

    @put("/password", operation_id="change_password", guards=[requires_token])
    async def change_password(
        self, request: Me, data: JSONBody[PasswordChange], accounts: NamedDependency[AccountService]
    ) -> Message:
        """Change the password; every other session of the account ends (this one stays)."""
        ended = await accounts.change_password(request.user, data)
        return Message(message=f"password changed; {ended} other session(s) ended")

    @get("/usage", operation_id="get_my_usage")
    async def usage(self, request: Me, limit: Limit = 50, offset: Offset = 0) -> Usage:
        """The caller's AI service calls, newest first, with totals per service."""
        return await user_usage(request.user.id, limit=limit, offset=offset)

    @get("/api-keys", operation_id="list_api_keys")
    async def list_api_keys(self, request: Me, api_keys: NamedDependency[ApiKeyService]) -> list[ApiKeyOut]:
        return await api_keys.list(request.user.id)

    @post(
        "/api-keys",
        operation_id="create_api_key",
        guards=[requires_token],
        status_code=201,
        cache_control=CacheControlHeader(no_store=True),  # the key itself: no cache keeps it (ASVS 4.0 §8.2.1)
    )
    async def create_api_key(
        self, request: Me, data: JSONBody[ApiKeyIn], api_keys: NamedDependency[ApiKeyService]
    ) -> ApiKeyCreated:
        """A new key, shown once in ``key``; send it as ``X-API-Key``. 403 past the level's ``api_key_limit``."""
        return await api_keys.create(request.user.id, data.name)

    @delete("/api-keys/{key_id:uuid}", operation_id="delete_api_key", guards=[requires_token], status_code=204)
    async def delete_api_key(
        self, request: Me, key_id: FromPath[UUID], api_keys: NamedDependency[ApiKeyService]
    ) -> None:
        await api_keys.delete(request.user.id, key_id)
