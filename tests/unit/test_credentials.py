"""Reading credentials (housify_api.auth.credentials) and the one AuthUser factory."""

from __future__ import annotations

from types import SimpleNamespace
from uuid import UUID, uuid4

import pytest
from litestar.datastructures import Headers, MultiDict
from litestar.exceptions import NotAuthorizedException

from housify_api.auth import credentials
from housify_api.auth.credentials import hash_api_key
from housify_api.auth.identity import auth_user


def _socket(
    subprotocols: list[str] | None = None, query: dict[str, str] | None = None, headers: dict[str, str] | None = None
):  # noqa: ANN202
    return SimpleNamespace(
        scope={"subprotocols": subprotocols or []}, query_params=MultiDict(query or {}), headers=Headers(headers or {})
    )


def test_headers_api_key_first_then_bearer() -> None:
    assert credentials.from_headers(Headers({"X-API-Key": "hk_abc", "Authorization": "Bearer t"})) == (
        "api_key",
        "hk_abc",
    )
    assert credentials.from_headers(Headers({"authorization": "bearer  tok "})) == ("token", "tok")
    assert credentials.from_headers(Headers({})) is None


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "tok"])
def test_a_malformed_authorization_header_is_401(value: str) -> None:
    with pytest.raises(NotAuthorizedException, match="Bearer <access token>"):
        credentials.from_headers(Headers({"Authorization": value}))


def test_websocket_credentials_in_order() -> None:
    assert credentials.from_websocket(_socket(["bearer", "tok"])) == (("token", "tok"), True)
    # ?token= is not read: a token in the URL lands in nginx's and uvicorn's access logs (docs/security.md)
    assert credentials.from_websocket(_socket(query={"token": "q"})) == (None, False)
    assert credentials.from_websocket(_socket(headers={"Authorization": "Bearer h"})) == (
        ("token", "h"),
        False,
    )
    assert credentials.from_websocket(_socket(headers={"X-API-Key": "hk_k"})) == (("api_key", "hk_k"), False)
    assert credentials.from_websocket(_socket(["bearer"])) == (None, True)
    assert credentials.from_websocket(_socket()) == (None, False)


def test_api_keys_are_stored_as_sha256() -> None:
    import hashlib

    assert hash_api_key("hk_x") == hashlib.sha256(b"hk_x").hexdigest()


def test_one_factory_for_claims_and_rows() -> None:
    user_id, sid = uuid4(), uuid4()
    from_claims = auth_user(
        id=str(user_id),
        email="a@example.com",
        role="user",
        tier="Free-Tier",
        services=["text2img", "inpaint"],
        via="token",
        session_id=str(sid),
        jti="j",
    )
    from_row = auth_user(
        id=user_id, email="a@example.com", role="user", tier="Free-Tier", services="inpaint,text2img", via="api_key"
    )
    assert from_claims.id == from_row.id == user_id and isinstance(from_claims.session_id, UUID)
    assert from_claims.services == from_row.services == frozenset({"text2img", "inpaint"})
    assert from_row.session_id is None and from_row.via == "api_key"
    with pytest.raises(ValueError):
        auth_user(id="not-a-uuid", email="", role="user", tier="", services="", via="token")
