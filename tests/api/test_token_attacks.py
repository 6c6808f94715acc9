"""Forged, expired, tampered, wrong-algorithm, alg=none, unknown-key and revoked tokens are refused with a reason."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apikit import bearer


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user_tokens: dict) -> dict:
    return jwt.decode(user_tokens["access_token"], options={"verify_signature": False})


async def _detail(client, token: str) -> tuple[int, str]:
    response = await client.get("/users/me", headers=bearer(token))
    return response.status_code, response.json()["detail"]


async def test_expired_token(api, client, user):
    keyring = api.app.state.services.keyring
    claims = _claims(user["tokens"])
    expired, _ = keyring.issue(
        "access", claims["sub"], claims["sid"], -10, role="user", tier="Free-Tier", email=user["email"], svc=[]
    )
    assert await _detail(client, expired) == (401, "token expired")


async def test_tampered_payload(client, user):
    header, _payload, signature = user["tokens"]["access_token"].split(".")
    claims = _claims(user["tokens"])
    claims["role"] = "admin"
    forged = ".".join([header, _b64(claims), signature])
    assert await _detail(client, forged) == (401, "token signature invalid")
    assert (await client.get("/admin/users", headers=bearer(forged))).status_code == 401


async def test_alg_none(client, user):
    claims = _claims(user["tokens"])
    claims["role"] = "admin"
    unsigned = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + "."
    status, detail = await _detail(client, unsigned)
    assert status == 401 and "'none' not allowed" in detail


async def test_hs256_with_the_public_key_as_secret(api, client, user):
    """The classic algorithm-confusion forgery: HMAC keyed with the (public) verification key."""
    import hashlib
    import hmac

    public_pem = api.app.state.services.public_pem.encode()
    signing_input = (
        _b64({"alg": "HS256", "typ": "JWT", "kid": api.app.state.services.keyring.kid})
        + "."
        + _b64(_claims(user["tokens"]))
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    status, detail = await _detail(client, forged)
    assert status == 401 and "'HS256' not allowed" in detail


async def test_es512_signed_by_an_unknown_key(api, client, user):
    stranger = ec.generate_private_key(ec.SECP521R1())
    forged = jwt.encode(
        _claims(user["tokens"]), stranger, algorithm="ES512", headers={"kid": api.app.state.services.keyring.kid}
    )
    assert await _detail(client, forged) == (401, "token signature invalid")
    other_kid = jwt.encode(_claims(user["tokens"]), stranger, algorithm="ES512", headers={"kid": "someone-else"})
    status, detail = await _detail(client, other_kid)
    assert status == 401 and "unknown key" in detail


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "Bearer", "x" * 5000])
async def test_malformed(client, garbage):
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {garbage}"})
    assert response.status_code == 401 and response.json()["detail"]


async def test_missing_and_wrong_scheme(client, user):
    missing = await client.get("/users/me")
    assert missing.status_code == 401 and "missing credentials" in missing.json()["detail"]
    basic = await client.get("/users/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401 and "Bearer" in basic.json()["detail"]


async def test_refresh_token_is_not_an_access_token(client, user):
    assert await _detail(client, user["tokens"]["refresh_token"]) == (401, "not an access token")
    response = await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": user["tokens"]["access_token"]}
    )
    assert response.status_code == 401 and response.json()["detail"] == "not a refresh token"


async def test_wrong_audience(api, client, user):
    keyring = api.app.state.services.keyring
    claims = _claims(user["tokens"])
    claims.update(aud="another-service", exp=int(time.time()) + 60)
    key = serialization.load_pem_private_key(
        (api.app.state.services.settings.resolved_data_dir() / "keys" / "jwt-private.pem").read_bytes(), None
    )
    foreign = jwt.encode(claims, key, algorithm="ES512", headers={"kid": keyring.kid})
    assert await _detail(client, foreign) == (401, "token audience not accepted")


async def test_revoked_jti_is_refused_even_though_its_claims_are_cached(client, user):
    token = user["tokens"]["access_token"]
    assert (await client.get("/users/me", headers=bearer(token))).status_code == 200  # now cached as verified
    assert (await client.post("/auth/logout", headers=bearer(token))).status_code == 200
    status, detail = await _detail(client, token)
    assert status == 401 and "revoked" in detail


async def test_revocation_entries_expire(api, user, redis_client):
    """The denylist does not grow forever (seed flaw 000 5.6.7): entries carry a TTL."""
    from housify_api.auth.revocation import Revocations

    claims = _claims(user["tokens"])
    revocations: Revocations = api.app.state.services.revocations
    await revocations.revoke_token(claims["jti"], claims["exp"])
    ttl = await redis_client.ttl(api.app.state.services.redis_keys.key("revoked", "jti", claims["jti"]))
    assert 0 < ttl <= 301


async def test_each_access_token_is_verified_once(api, client, user, monkeypatch):
    keyring = api.app.state.services.keyring
    calls = []
    original = keyring.verify
    monkeypatch.setattr(keyring, "verify", lambda encoded, kind: calls.append(kind) or original(encoded, kind))
    fresh = await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": user["tokens"]["refresh_token"]}
    )
    assert calls == ["refresh"]
    for _ in range(5):
        assert (await client.get("/auth/whoami", headers=bearer(fresh.json()))).status_code == 200
    assert calls == ["refresh", "access"]


async def test_concurrent_checks_share_redis_but_each_sees_its_revocation(client, user):
    """Batched revocation look-ups still answer per token: one revoked token among many good ones."""
    import asyncio

    from .conftest import login

    sessions = [await login(client, user["email"]) for _ in range(3)]
    assert (await client.post("/auth/logout", headers=bearer(sessions[0]))).status_code == 200
    responses = await asyncio.gather(
        *(client.get("/auth/whoami", headers=bearer(s)) for s in sessions for _ in range(10))
    )
    codes = [r.status_code for r in responses]
    assert codes[:10] == [401] * 10 and codes[10:] == [200] * 20
