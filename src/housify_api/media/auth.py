"""Who is calling, where Litestar's auth middleware does not run.

Public reads (a public picture, its bytes, the gallery) are excluded from the
middleware, so anonymous clients reach them; a client that does send
credentials there is still identified (:func:`optional_user`), so owners see
their private pictures through the same URLs. The WebSocket of job events
takes its token from a subprotocol or query parameter
(:mod:`housify_api.media.events`), which the middleware does not read.

Both reuse the accounts app's pieces unchanged: the key ring's ES512
verification (with its verified-claims cache), ``user_from_claims`` and the
Redis revocation check of the middleware, and API-key lookup.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException

from housify_api.auth.identity import AuthUser
from housify_api.auth.middleware import API_KEY_HEADER, token_revoked, user_from_claims
from housify_api.auth.tokens import ALGORITHM


async def user_from_token(connection: ASGIConnection[Any, Any, Any, Any], encoded: str) -> AuthUser:
    """The caller of an access token, checked exactly as the middleware checks it.

    Raises:
        NotAuthorizedException: (401) naming what is wrong (malformed, expired, revoked, ...).
    """
    # The middleware's own bound token class: one verified-claims cache for the whole app.
    token = connection.app.state.token_cls.decode(encoded, secret="", algorithm=ALGORITHM)
    await token_revoked(token, connection)
    return await user_from_claims(token, connection)


async def user_from_api_key(key: str) -> AuthUser:
    from housify_api.accounts.api_keys import user_for_api_key

    return await user_for_api_key(key)


async def optional_user(connection: ASGIConnection[Any, Any, Any, Any]) -> AuthUser | None:
    """The caller when credentials are sent, ``None`` for an anonymous request.

    Raises:
        NotAuthorizedException: credentials sent but invalid (a wrong token is not "anonymous").
    """
    api_key = connection.headers.get(API_KEY_HEADER)
    if api_key:
        return await user_from_api_key(api_key)
    header = connection.headers.get("Authorization")
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "bearer" or not encoded.strip():
        raise NotAuthorizedException("Authorization header must be 'Bearer <access token>'")
    return await user_from_token(connection, encoded.strip())
