"""Signing and verifying Housify's JWTs (ES512 with ``kid``; docs/design.md "Security rules").

Access tokens live ``access_token_ttl_seconds`` (5 min), refresh tokens
``refresh_token_ttl_seconds`` (7 days). Claims: ``sub`` (user id), ``jti``,
``iat``, ``exp``, ``iss``, ``aud``, ``type`` (``access``/``refresh``), ``sid``
(the session = refresh-token family), and on access tokens ``role``, ``tier``,
``email``, ``svc`` (service names).

Verify once: an ES512 verification costs ~1.4 ms (docs/design.md "Measured facts"), which alone
caps a core near 550 requests/s, while clients reuse one access token for its
whole life. :class:`HousifyToken` therefore keeps each verified access token
(keyed by the exact token string, so a tampered token never hits the cache)
until its ``exp`` in a bounded :class:`VerifiedTokens`; revocation is still
checked on every request by the auth middleware.
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
    """

    def __init__(
        self,
        private_key: ec.EllipticCurvePrivateKey,
        public_keys: list[ec.EllipticCurvePublicKey],
        *,
        issuer: str,
        audience: str,
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

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JSON Web Key Set served at ``/.well-known/jwks.json`` (RFC 7517 §5)."""
        return {"keys": list(self._jwks)}

    def issue(
        self, token_type: TokenType, subject: str, session_id: str, ttl_seconds: int, **claims: Any
    ) -> tuple[str, dict[str, Any]]:
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
        """The claims of a valid token of ``token_type`` (a full ES512 verification every call).

        Raises:
            TokenError: naming the problem (malformed, algorithm not ES512, unknown ``kid``,
                bad signature, expired, wrong issuer/audience/type, missing claim).
        """
        claims = self._verify_signature(encoded)
        if claims.get("type") != token_type:
            raise TokenError(f"not an {token_type} token" if token_type == "access" else f"not a {token_type} token")
        return claims

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


class VerifiedTokens:
    """Verified access tokens by their exact encoded string, each until its ``exp``.

    Bounded: when full, expired entries go first, then the oldest quarter.
    """

    def __init__(self, max_size: int = 20_000) -> None:
        self._entries: dict[str, tuple[float, Any]] = {}
        self._max_size = max_size

    def get(self, encoded: str) -> Any:
        entry = self._entries.get(encoded)
        if entry is None:
            return None
        if entry[0] <= time.time():
            del self._entries[encoded]
            return None
        return entry[1]

    def put(self, encoded: str, exp: float, token: Any) -> None:
        if len(self._entries) >= self._max_size:
            now = time.time()
            for key in [k for k, (e, _) in self._entries.items() if e <= now]:
                del self._entries[key]
            if len(self._entries) >= self._max_size:
                for key in list(self._entries)[: max(1, self._max_size // 4)]:
                    del self._entries[key]
        self._entries[encoded] = (exp, token)


class HousifyToken(Token):
    """Litestar's :class:`Token`, decoded through a :class:`KeyRing` (ES512, ``kid``) and
    remembered in :class:`VerifiedTokens` until it expires (verify once).

    Litestar's JWT middleware calls :meth:`decode`; the key ring replaces its single
    ``secret``. Bind a ring with :func:`token_class`. Cached instances are shared
    between requests: treat ``request.auth`` as read-only.
    """

    keyring: ClassVar[KeyRing]
    verified: ClassVar[VerifiedTokens]

    @classmethod
    def decode(cls, encoded_token: str, secret: str, algorithm: str, *args: Any, **kwargs: Any) -> Any:
        token = cls.verified.get(encoded_token)
        if token is None:
            token = super().decode(encoded_token, secret, algorithm, *args, **kwargs)
            cls.verified.put(encoded_token, token.exp.timestamp(), token)
        return token

    @classmethod
    def decode_payload(
        cls,
        encoded_token: str,
        secret: str,
        algorithms: list[str],
        issuer: Any = None,
        audience: Any = None,
        options: Any = None,
    ) -> Any:  # noqa: ARG003 - the ring holds keys, issuer and audience
        claims = cls.keyring.verify(encoded_token, "access")
        # Litestar truncates ``iat`` to whole seconds; keep the exact value for revocation cut-offs.
        claims["iat_exact"] = claims["iat"]
        return claims


def token_class(keyring: KeyRing, cache_size: int = 20_000) -> type[HousifyToken]:
    """A :class:`HousifyToken` subclass bound to ``keyring`` with its own cache (one per app)."""
    return type("BoundHousifyToken", (HousifyToken,), {"keyring": keyring, "verified": VerifiedTokens(cache_size)})
