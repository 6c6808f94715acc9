"""The OpenAPI schema documents the error statuses the API really answers with.

schemathesis (status_code_conformance) found 401/403/404/409/415/429 answered by
routes whose schema listed only 200 and 400; ``housify_api.system.error_docs``
now adds the shared ones and handlers declare their own.
"""

from __future__ import annotations

from uuid import uuid4

from apikit import bearer, register, unique_ip


async def _schema_paths(client) -> dict:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()["paths"]


def _assert_documented(paths: dict, method: str, path: str, response) -> None:
    responses = paths[path][method.lower()]["responses"]
    assert str(response.status_code) in responses, (
        method,
        path,
        response.status_code,
        sorted(responses),
        response.text,
    )
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/json"
        assert "application/json" in responses[str(response.status_code)]["content"]


async def test_answered_error_statuses_are_documented(client, user, admin_tokens):
    paths = await _schema_paths(client)
    me = (await client.get("/users/me", headers=bearer(user["tokens"]))).json()
    admin_id = (await client.get("/users/me", headers=bearer(admin_tokens))).json()["id"]
    cases = [
        ("GET", "/users/me", "/users/me", {}, None, 401),
        ("GET", "/admin/users", "/admin/users", bearer(user["tokens"]), None, 403),
        ("GET", f"/admin/users/{uuid4()}", "/admin/users/{user_id}", bearer(admin_tokens), None, 404),
        (
            "PATCH",
            f"/admin/users/{admin_id}",
            "/admin/users/{user_id}",
            bearer(admin_tokens),
            {"is_active": False},
            409,
        ),
        (
            "POST",
            "/auth/register",
            "/auth/register",
            {},
            {"email": user["email"], "password": "violet-harbor-seventeen"},
            409,
        ),
        (
            "POST",
            "/auth/token",
            "/auth/token",
            {"X-Forwarded-For": unique_ip()},
            {"username": me["email"], "password": "x"},
            415,
        ),
        ("DELETE", f"/users/me/api-keys/{uuid4()}", "/users/me/api-keys/{key_id}", bearer(user["tokens"]), None, 404),
    ]
    for method, url, path, headers, body, status in cases:
        response = await client.request(method, url, headers=headers, json=body)
        assert response.status_code == status, (method, url, response.text)
        _assert_documented(paths, method, path, response)


async def test_wrong_password_is_a_documented_401(client):
    paths = await _schema_paths(client)
    email = await register(client)
    response = await client.post(
        "/auth/token",
        data={"username": email, "password": "not-the-password"},
        headers={"X-Forwarded-For": unique_ip()},
    )
    assert response.status_code == 401
    _assert_documented(paths, "POST", "/auth/token", response)


async def test_every_authenticated_operation_documents_401_and_503(client, api):
    """Every route behind the auth middleware documents 401; every route touching a dependency documents 503."""
    from litestar.handlers import HTTPRouteHandler
    from litestar.routes import HTTPRoute

    paths = await _schema_paths(client)
    checked = 0
    for route in api.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not (isinstance(handler, HTTPRouteHandler) and handler.resolve_include_in_schema()):
                continue
            for method in handler.http_methods:
                responses = paths[route.path_format][method.lower()]["responses"]
                if not handler.opt.get("exclude_from_auth"):
                    assert "401" in responses, (method, route.path_format)
                    checked += 1
                assert ("503" in responses) != bool(handler.opt.get("offline")) or route.path_format == "/ready", (
                    method,
                    route.path_format,
                )
    assert checked > 20


async def test_request_bodies_that_refuse_unknown_fields_are_closed_in_the_schema(client):
    """Bodies are forbid_unknown_fields; the schema left them open, so schemathesis sent extra keys and got 400."""
    response = await client.post("/auth/password-reset", json={"email": "a@example.com", "colour": "red"})
    assert response.status_code == 400 and "colour" in response.text
    components = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    for name in (
        "RegisterIn",
        "ResetRequestIn",
        "ResetConfirmIn",
        "EmailTokenIn",
        "ProfilePatch",
        "PasswordChange",
        "ApiKeyIn",
        "AdminUserPatch",
        "SubscriptionChange",
        "Text2imgJobIn",
        "UpscaleJobIn",
        "ImagePatch",
        "RatingIn",
    ):
        assert components[name]["additionalProperties"] is False, name
    assert "additionalProperties" not in components["UserOut"]  # responses may grow fields
