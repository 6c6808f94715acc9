"""Signing and verifying Housify's JWTs (ES512 with ``kid``; DESIGN.md §3, seed 000 5.9).

Access tokens live ``access_token_ttl_seconds`` (5 min), refresh tokens
``refresh_token_ttl_seconds`` (7 days). Claims: ``sub`` (user id), ``jti``,
``iat``, ``exp``, ``iss``, ``aud``, ``type`` (``access``/``refresh``), ``sid``
(the session = refresh-token family), and on access tokens ``role``, ``tier``,
``email``, ``svc`` (service names).

Verify once: an ES512 verification costs ~1.4 ms (FIELD-NOTES), which alone
caps a core near 550 requests/s, while clients reuse one access token for its
whole life. :meth:`KeyRing.verify` therefore keeps the verified claims of each
access token (keyed by the exact token string, so a tampered token never hits
the cache) until its ``exp``; revocation is still checked on every request by
the auth middleware.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, ClassVar, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from litestar.exceptions import NotAuthorizedException
from litestar.security.jwt import Token

from housify_api.auth.keys import jwk_of

ALGORITHM = "ES512"
TokenType = Literal["access", "refresh"]


class TokenError(NotAuthorizedException):
    """401 with a detail naming what is wrong with the token."""


class KeyRing:
    """The current signing key plus every public key that may verify.

    Args:
        private_key: signs new tokens.
        public_keys: verify; the current key's public half is added automatically.
        issuer / audience: the ``iss`` / ``aud`` written and required.
        cache_size: how many verified access tokens to remember (oldest dropped first).
    """

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        public_keys: list[ec.EllipticCurvePublicKey],
        *,
        issuer: str,
        audience: str,
        cache_size: int = 50_000,
    ) -> None:
        self._private_key = private_key
        current = jwk_of(private_key.public_key())
        self.kid = current["kid"]
        self._public: dict[str, ec.EllipticCurvePublicKey] = {self.kid: private_key.public_key()}
        self._jwks = [current]
        for key in public_keys:
            jwk = jwk_of(key)
            if jwk["kid"] not in self._public:
                self._public[jwk["kid"]] = key
                self._jwks.append(jwk)
        self.issuer = issuer
        self.audience = audience
        self._cache: dict[str, dict[str, Any]] = {}
        self._cache_size = cache_size

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JSON Web Key Set served at ``/.well-known/jwks.json`` (RFC 7517 §5)."""
        return {"keys": list(self._jwks)}

    def issue(self, token_type: TokenType, subject: str, session_id: str, ttl_seconds: int, **claims: Any) -> tuple[str, dict[str, Any]]:
        """A signed token and its claims; ``claims`` adds e.g. ``role``, ``tier``, ``email``, ``svc``."""
        now = time.time()
        payload = {
            "sub": subject,
            "jti": secrets.token_urlsafe(16),
            # Millisecond iat (a NumericDate may be fractional, RFC 7519 §2) so a revocation
            # cut-off set at a given instant separates tokens issued just before and just after it.
            "iat": round(now, 3),
            "exp": int(now) + ttl_seconds,
            "iss": self.issuer,
            "aud": self.audience,
            "type": token_type,
            "sid": session_id,
            **claims,
        }
        encoded = jwt.encode(payload, self._private_key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return encoded, payload

    def verify(self, encoded: str, token_type: TokenType) -> dict[str, Any]:
        """The claims of a valid token of ``token_type``; a fresh dict the caller may change.

        Raises:
            TokenError: naming the problem (malformed, algorithm not ES512, unknown ``kid``,
                bad signature, expired, wrong issuer/audience/type, missing claim).
        """
        cached = self._cache.get(encoded)
        if cached is not None:
            if cached["exp"] > time.time():
                return dict(cached)
            del self._cache[encoded]
        claims = self._verify_signature(encoded)
        if claims.get("type") != token_type:
            raise TokenError(f"not an {token_type} token" if token_type == "access" else f"not a {token_type} token")
        if token_type == "access":
            self._remember(encoded, claims)
        return dict(claims)

    def _verify_signature(self, encoded: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(encoded)
        except jwt.DecodeError as exc:
            raise TokenError("malformed token: not a JWS compact serialization") from exc
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise TokenError(f"token algorithm {alg!r} not allowed; {ALGORITHM} expected")
        key = self._public.get(str(header.get("kid")))
        if key is None:
            raise TokenError("token signed with an unknown key (kid); see /.well-known/jwks.json")
        try:
            return jwt.decode(
                encoded,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub", "jti", "iat", "exp", "iss", "aud", "type", "sid"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError("token signature invalid") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("token audience not accepted") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenError("token issuer not accepted") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the {exc.claim!r} claim") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from exc

    def _remember(self, encoded: str, claims: dict[str, Any]) -> None:
        if len(self._cache) >= self._cache_size:
            now = time.time()
            for key in [k for k, v in self._cache.items() if v["exp"] <= now]:
                del self._cache[key]
            # Still full: drop the oldest quarter (dicts keep insertion order).
            for key in list(self._cache)[: max(1, len(self._cache) // 4)] if len(self._cache) >= self._cache_size else ():
                del self._cache[key]
        self._cache[encoded] = claims


class HousifyToken(Token):
    """Litestar's :class:`Token`, decoded through a :class:`KeyRing` (ES512, ``kid``, verify-once cache).

    Litestar's JWT middleware calls :meth:`decode_payload`; the key ring replaces
    its single ``secret``. Bind a ring with :func:`token_class`.
    """

    keyring: ClassVar[KeyRing]

    @classmethod
    def decode_payload(cls, encoded_token: str, secret: str, algorithms: list[str], issuer: Any = None, audience: Any = None, options: Any = None) -> Any:  # noqa: ARG003 - the ring holds keys, issuer and audience
        claims = cls.keyring.verify(encoded_token, "access")
        # Litestar truncates ``iat`` to whole seconds; keep the exact value for revocation cut-offs.
        claims["iat_exact"] = claims["iat"]
        return claims


def token_class(keyring: KeyRing) -> type[HousifyToken]:
    """A :class:`HousifyToken` subclass bound to ``keyring`` (one per app, so tests may run several)."""
    return type("BoundHousifyToken", (HousifyToken,), {"keyring": keyring})
