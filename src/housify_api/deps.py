"""The app's shared collaborators: built once per app, kept in ``app.state``, injected by name.

``build_state(settings)`` makes them; ``create_app`` passes the result as the
app's ``state`` (so plugins see it in ``on_app_init`` as ``app_config.state``)
and registers :data:`DEPENDENCIES` app-wide. What is there:

====================  ==========================================  =====================
``app.state.<name>``  type                                        handler parameter
====================  ==========================================  =====================
``settings``          :class:`housify_api.settings.ApiSettings`    ``settings``
``redis``             ``redis.asyncio.Redis`` (bytes responses)    ``redis``
``redis_keys``        :class:`housify_common.redis.RedisKeys`      ``redis_keys``
``mailer``            :class:`housify_api.email.Mailer`            ``mailer``
``keyring``           :class:`housify_api.auth.tokens.KeyRing`     —
``token_cls``         the app's bound ``HousifyToken`` class       —
                      (``token_cls.decode(encoded, "", "ES512")`` verifies once, cached until ``exp``)
``passwords``         :class:`housify_api.auth.passwords.Passwords` —
``limiter``           :class:`housify_api.auth.limiter.LoginLimiter` —
``revocations``       :class:`housify_api.auth.revocation.Revocations` —
====================  ==========================================  =====================

The Redis client is closed by the app's lifespan (``app.py``).
"""

from __future__ import annotations

from typing import Any

from litestar.datastructures import State
from litestar.di import Provide
from redis.asyncio import Redis

from housify_api.auth.keys import dev_keys, load_private_key, load_public_keys
from housify_api.auth.limiter import LoginLimiter
from housify_api.auth.passwords import Passwords
from housify_api.auth.revocation import Revocations
from housify_api.auth.tokens import KeyRing, token_class
from housify_api.email import Mailer
from housify_api.settings import ApiSettings
from housify_common.redis import RedisKeys, redis_from_url


def signing_keys(settings: ApiSettings) -> tuple[str, str]:
    """``(private_pem, public_pem)`` from settings, or the generated dev pair when none is configured."""
    if settings.jwt_private_key:
        if not settings.jwt_public_key:
            from housify_api.auth.keys import KeyConfigError

            raise KeyConfigError("HOUSIFY_JWT_PUBLIC_KEY(_FILE) must be set together with HOUSIFY_JWT_PRIVATE_KEY(_FILE)")
        return settings.jwt_private_key, settings.jwt_public_key
    return dev_keys(settings.resolved_data_dir())


def build_state(settings: ApiSettings) -> dict[str, Any]:
    """Everything in ``app.state`` (table above). Raises ``KeyConfigError`` for unusable keys."""
    private_pem, public_pem = signing_keys(settings)
    private_key = load_private_key(private_pem, "HOUSIFY_JWT_PRIVATE_KEY")
    public_keys = load_public_keys(public_pem, "HOUSIFY_JWT_PUBLIC_KEY") + load_public_keys(
        settings.jwt_previous_public_keys, "HOUSIFY_JWT_PREVIOUS_PUBLIC_KEYS"
    )
    keyring = KeyRing(private_key, public_keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    redis = redis_from_url(settings.redis_url)
    keys = RedisKeys(settings.redis_prefix)
    return {
        "settings": settings,
        "redis": redis,
        "redis_keys": keys,
        "mailer": Mailer(settings),
        "keyring": keyring,
        "token_cls": token_class(keyring, settings.access_token_cache_size),
        "public_pem": public_pem,
        "passwords": Passwords(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        "limiter": LoginLimiter(
            redis,
            keys,
            max_account=settings.login_max_failures_account,
            max_ip=settings.login_max_failures_ip,
            window_seconds=settings.login_lockout_seconds,
        ),
        "revocations": Revocations(redis, keys, settings.access_token_ttl_seconds),
    }


def provide_settings(state: State) -> ApiSettings:
    return state.settings


def provide_redis(state: State) -> Redis:
    return state.redis


def provide_redis_keys(state: State) -> RedisKeys:
    return state.redis_keys


def provide_mailer(state: State) -> Mailer:
    return state.mailer


DEPENDENCIES = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "redis": Provide(provide_redis, sync_to_thread=False),
    "redis_keys": Provide(provide_redis_keys, sync_to_thread=False),
    "mailer": Provide(provide_mailer, sync_to_thread=False),
}
