"""Key ring: RFC 7638 kid, JWKS without private parts, rotation with previous public keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from housify_api.auth.keys import jwk_of
from housify_api.auth.tokens import KeyRing, TokenError


def _ring(private: ec.EllipticCurvePrivateKey, previous: list[ec.EllipticCurvePublicKey] = ()) -> KeyRing:  # type: ignore[assignment]
    return KeyRing(private, list(previous), issuer="housify", audience="housify-api")


def test_kid_is_the_rfc7638_thumbprint():
    # RFC 7638 §3.1 example is RSA; for EC the members are crv, kty, x, y in lexicographic order.
    key = ec.generate_private_key(ec.SECP521R1())
    jwk = jwk_of(key.public_key())
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-521" and jwk["alg"] == "ES512"
    assert jwk_of(key.public_key())["kid"] == jwk["kid"]  # stable
    assert jwk_of(ec.generate_private_key(ec.SECP521R1()).public_key())["kid"] != jwk["kid"]


def test_rotation_keeps_old_tokens_valid_until_the_old_key_is_dropped():
    old, new = ec.generate_private_key(ec.SECP521R1()), ec.generate_private_key(ec.SECP521R1())
    old_token, _ = _ring(old).issue("access", "u", "s", 60, role="user")
    rotated = _ring(new, [old.public_key()])
    assert rotated.verify(old_token, "access")["sub"] == "u"
    assert {k["kid"] for k in rotated.jwks()["keys"]} == {jwk_of(old.public_key())["kid"], rotated.kid}
    assert all("d" not in k for k in rotated.jwks()["keys"])
    with pytest.raises(TokenError, match="unknown key"):
        _ring(new).verify(old_token, "access")


def test_non_p521_keys_are_refused(tmp_path):
    from cryptography.hazmat.primitives import serialization

    from housify_api.auth.keys import KeyConfigError, load_private_key

    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyConfigError, match="P-521"):
        load_private_key(p256.decode())
