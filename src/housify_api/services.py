"""The app's services: one typed, frozen container, built once per app (``create_app``).

As InvokeAI's ``InvocationServices``: every long-lived collaborator is a typed
attribute of :class:`Services`, so a misspelt service is a type error, each
service takes its collaborators explicitly (and can be built alone in a unit
test), and the app's dependency providers are derived from the container's
fields (:func:`providers`): a handler parameter named like a field
(``auth: NamedDependency[AuthService]``) receives that service.

The container lives in ``app.state.services``. To run the app on other
collaborators (a test's dead SMTP server), put a changed copy there:
``app.state.services = dataclasses.replace(services, auth=dataclasses.replace(services.auth, mailer=...))``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar.datastructures import State
from litestar.di import Provide

from housify_api.accounts.api_keys import ApiKeyService
from housify_api.accounts.service import AccountService
from housify_api.auth.credentials import Authenticator
from housify_api.auth.keys import KeyConfigError, dev_keys, load_private_key, load_public_keys
from housify_api.auth.limiter import LoginLimiter
from housify_api.auth.passwords import Passwords
from housify_api.auth.revocation import Revocations
from housify_api.auth.service import AuthService
from housify_api.auth.tokens import HousifyToken, KeyRing, token_class
from housify_api.billing.admin import LevelAdmin
from housify_api.billing.service import BillingService, build_billing
from housify_api.crypto_quotes import CryptoQuoteClient
from housify_api.email import Mailer
from housify_api.media import ratings
from housify_api.media.services import MediaServices, build_media_services
from housify_api.plans.service import LevelService, PlanService
from housify_api.settings import ApiSettings
from housify_common.redis import RedisClient, RedisKeys, redis_from_url


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """Everything the app's handlers and background tasks use (attribute = handler parameter name)."""

    settings: ApiSettings
    #: bytes responses; closed by the app's lifespan.
    redis: RedisClient
    redis_keys: RedisKeys
    mailer: Mailer
    keyring: KeyRing
    #: PEM of the current public key (what ``/.well-known/jwks.json`` publishes, as PEM).
    public_pem: str
    #: The app's bound token class: ``token_cls.decode(encoded, "", "ES512")`` verifies once, cached until ``exp``.
    token_cls: type[HousifyToken]
    passwords: Passwords
    login_limiter: LoginLimiter
    revocations: Revocations
    authenticator: Authenticator
    levels: LevelService
    plans: PlanService
    auth: AuthService
    accounts: AccountService
    api_keys: ApiKeyService
    media: MediaServices
    #: Orders, periods, renewals (housify_api.billing); ``level_admin``: admins' level edits and grants.
    billing: BillingService
    level_admin: LevelAdmin
    #: The housify-soap client (``HOUSIFY_SOAP_WSDL_URL``); ``None`` when not configured.
    quotes: CryptoQuoteClient | None = None

    async def aclose(self) -> None:
        """Close what holds connections (the media plugin closes the media collaborators)."""
        await self.mailer.aclose()
        await self.billing.aclose()
        if self.quotes is not None:
            await self.quotes.aclose()
        await self.redis.aclose()


def signing_keys(settings: ApiSettings) -> tuple[str, str]:
    """``(private_pem, public_pem)`` from settings, or the generated dev pair when none is configured.

    Raises:
        KeyConfigError: a private key without its public key.
    """
    if settings.jwt_private_key:
        if not settings.jwt_public_key:
            raise KeyConfigError(
                "HOUSIFY_JWT_PUBLIC_KEY(_FILE) must be set together with HOUSIFY_JWT_PRIVATE_KEY(_FILE)"
            )
        return settings.jwt_private_key, settings.jwt_public_key
    return dev_keys(settings.resolved_data_dir())


def build_services(settings: ApiSettings) -> Services:
    """Every service for ``settings``. Raises ``KeyConfigError`` (a ``SettingsError``) for unusable keys."""
    private_pem, public_pem = signing_keys(settings)
    private_key = load_private_key(private_pem, "HOUSIFY_JWT_PRIVATE_KEY")
    public_keys = load_public_keys(public_pem, "HOUSIFY_JWT_PUBLIC_KEY") + load_public_keys(
        settings.jwt_previous_public_keys, "HOUSIFY_JWT_PREVIOUS_PUBLIC_KEYS"
    )
    keyring = KeyRing(private_key, public_keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    token_cls = token_class(keyring, settings.access_token_cache_size)
    redis = redis_from_url(settings.redis_url)
    keys = RedisKeys(settings.redis_prefix)
    mailer = Mailer(settings)
    passwords = Passwords(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    login_limiter = LoginLimiter(
        redis,
        keys,
        max_account=settings.login_max_failures_account,
        max_ip=settings.login_max_failures_ip,
        window_seconds=settings.login_lockout_seconds,
        free_attempts=settings.login_free_attempts,
        max_backoff_seconds=settings.login_max_backoff_seconds,
    )
    revocations = Revocations(redis, keys, settings.access_token_ttl_seconds)
    levels = LevelService(settings.media.levels_cache_seconds)
    quotes = CryptoQuoteClient(settings.soap_wsdl_url) if settings.soap_wsdl_url else None
    auth = AuthService(
        settings=settings,
        keyring=keyring,
        passwords=passwords,
        limiter=login_limiter,
        mailer=mailer,
        revocations=revocations,
        redis=redis,
        keys=keys,
    )
    media = build_media_services(settings, redis, keys)
    billing = build_billing(settings, levels=levels, mailer=mailer, revocations=revocations, quotes=quotes)
    return Services(
        settings=settings,
        redis=redis,
        redis_keys=keys,
        mailer=mailer,
        keyring=keyring,
        public_pem=public_pem,
        token_cls=token_cls,
        passwords=passwords,
        login_limiter=login_limiter,
        revocations=revocations,
        authenticator=Authenticator(token_cls, revocations),
        levels=levels,
        plans=PlanService(levels, quotes),
        auth=auth,
        accounts=AccountService(
            auth=auth,
            levels=levels,
            revocations=revocations,
            settings=settings,
            deletion_hooks=(billing.on_account_deleted, ratings.withdraw_all, media.images.purge_owner),
        ),
        api_keys=ApiKeyService(levels),
        media=media,
        billing=billing,
        level_admin=LevelAdmin(levels=levels, billing=billing),
        quotes=quotes,
    )


def _provider(name: str) -> Callable[[State], Any]:
    def provide(state: State) -> Any:
        return getattr(state.services, name)

    provide.__name__ = f"provide_{name}"
    return provide


def providers() -> dict[str, Provide]:
    """One Litestar provider per :class:`Services` field, named like it (app-wide dependencies)."""
    return {field.name: Provide(_provider(field.name), sync_to_thread=False) for field in dataclasses.fields(Services)}
