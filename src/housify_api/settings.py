"""Settings of housify-api, read from ``HOUSIFY_*`` variables (DESIGN.md §8).

Every field is documented in ``docs/configuration.md``. Secrets may also be
given as files: ``HOUSIFY_JWT_PRIVATE_KEY_FILE=/run/keys/jwt.pem`` fills
``jwt_private_key`` with the file's contents (see ``housify_common.settings``).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from housify_common.db import default_data_dir
from housify_common.settings import load_settings


class ApiSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Everything housify-api reads from its environment; defaults are the embedded default."""

    # Dependencies. database_url is read by the piccolo_conf module (tables bind at import);
    # it is repeated here so /ready and the docs can name it.
    database_url: str = ""
    redis_url: str = ""
    redis_prefix: str = "housify:"
    data_dir: str = ""
    storage_dir: str = ""
    ai_url: str = ""
    soap_wsdl_url: str = ""
    public_url: str = "http://127.0.0.1:8000"
    cors_origins: list[str] = msgspec.field(default_factory=list)
    # The built web app served at / (housify_api.system.web); empty: the checkout's web/dist if built.
    web_dir: str = ""

    # Tokens (DESIGN.md §3): ES512 PEMs; kid is the RFC 7638 thumbprint of the public key.
    jwt_private_key: str = ""
    jwt_public_key: str = ""
    jwt_previous_public_keys: str = ""
    jwt_issuer: str = "housify"
    jwt_audience: str = "housify-api"
    access_token_ttl_seconds: int = 300
    refresh_token_ttl_seconds: int = 7 * 24 * 3600
    # Verified access tokens remembered per process (verify once); ~3 KB each.
    access_token_cache_size: int = 20_000

    # Passwords: OWASP Password Storage Cheat Sheet minimum for Argon2id (m=19 MiB, t=2, p=1).
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
    argon2_parallelism: int = 1
    password_min_length: int = 10

    # Brute force (failed logins in a rolling window).
    login_max_failures_account: int = 5
    login_max_failures_ip: int = 20
    login_lockout_seconds: int = 900

    # Tokens mailed for e-mail verification and password reset.
    email_verification_ttl_seconds: int = 24 * 3600
    password_reset_ttl_seconds: int = 3600

    # SMTP (aiosmtplib). No host: mails are logged instead of sent.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "Housify <no-reply@housify.local>"
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0

    # Superuser bootstrapped at start-up when both are set.
    superuser_email: str = ""
    superuser_password: str = ""

    def resolved_data_dir(self) -> Path:
        """``data_dir`` or ``HOUSIFY_DATA_DIR`` or ``./var``."""
        return Path(self.data_dir).resolve() if self.data_dir else default_data_dir()


def load_api_settings(**overrides: object) -> ApiSettings:
    """``ApiSettings`` from the process environment; raises ``SettingsError`` naming the variable."""
    return load_settings(ApiSettings, **overrides)
