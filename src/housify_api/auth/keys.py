"""ES512 signing keys: PEM loading, ``kid`` thumbprints, JWKS, and dev-key generation.

Keys are ECDSA P-521 (JWS ``ES512``, RFC 7518 §3.4). The ``kid`` of a key is
its RFC 7638 JWK thumbprint (SHA-256, base64url), so it is stable and needs no
configuration. Tokens are signed with the current private key; any public key
in the ring verifies, so a key can be rotated by moving the old public key to
``HOUSIFY_JWT_PREVIOUS_PUBLIC_KEYS_FILE`` until the last token it signed expired.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from housify_common.settings import SettingsError

log = logging.getLogger("housify_api.auth")

PRIVATE_KEY_NAME = "jwt-private.pem"
PUBLIC_KEY_NAME = "jwt-public.pem"


class KeyConfigError(SettingsError):
    """A configured key is not an ECDSA P-521 key; the message says which setting."""


def jwk_of(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public JWK (``kty``, ``crv``, ``x``, ``y``) plus ``kid``, ``alg`` and ``use``."""
    jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return {**members, "kid": kid, "alg": "ES512", "use": "sig"}


def load_private_key(pem: str, setting: str = "HOUSIFY_JWT_PRIVATE_KEY") -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyConfigError(f"{setting}: not a PEM private key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp521r1":
        raise KeyConfigError(f"{setting}: ES512 needs an ECDSA P-521 (secp521r1) key")
    return key


def load_public_keys(pem: str, setting: str) -> list[ec.EllipticCurvePublicKey]:
    """Every public key in ``pem`` (several PEM blocks may be concatenated)."""
    keys = []
    marker = "-----END PUBLIC KEY-----"
    for block in pem.split(marker):
        if "-----BEGIN PUBLIC KEY-----" not in block:
            continue
        try:
            key = serialization.load_pem_public_key((block.strip() + "\n" + marker + "\n").encode())
        except ValueError as exc:
            raise KeyConfigError(f"{setting}: not a PEM public key ({exc})") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp521r1":
            raise KeyConfigError(f"{setting}: ES512 needs ECDSA P-521 (secp521r1) public keys")
        keys.append(key)
    return keys


def generate_keypair(directory: Path) -> tuple[Path, Path]:
    """Write a new P-521 pair as ``jwt-private.pem`` (mode 0600) and ``jwt-public.pem``; returns both paths.

    Raises:
        FileExistsError: when a private key is already there (never overwrite a key silently).
    """
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / PRIVATE_KEY_NAME, directory / PUBLIC_KEY_NAME
    if private_path.exists():
        raise FileExistsError(f"{private_path} exists; remove it first to make a new key")
    key = ec.generate_private_key(ec.SECP521R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path, public_path


def dev_keys(data_dir: Path) -> tuple[str, str]:
    """PEMs of the development key pair under ``data_dir/keys``, made on first use (embedded default only)."""
    directory = data_dir / "keys"
    if not (directory / PRIVATE_KEY_NAME).exists():
        generate_keypair(directory)
        log.warning("no JWT keys configured: generated a development key pair in %s", directory)
    return (directory / PRIVATE_KEY_NAME).read_text(), (directory / PUBLIC_KEY_NAME).read_text()
