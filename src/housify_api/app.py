"""The Litestar application of housify-api.

``create_app(settings)`` wires every domain (auth, accounts, admin, plans,
system) and installs :class:`housify_api.media.plugin.MediaPlugin` (images,
jobs, gallery). The app's services are one typed container,
``app.state.services`` (:class:`housify_api.services.Services`), injectable by
field name. Authentication covers every route except handlers with
``opt={"exclude_from_auth": True}`` and ``/schema``.

Lifespan: opens the PostgreSQL connection pool (without it every query opens
a connection, ~23 ms each: docs/design.md), seeds the subscription levels, bootstraps the
superuser from settings, purges expired sessions hourly; on shutdown waits
briefly for queued mails, closes Redis and the pool. A database that is down at start-up does not stop the
service: it logs, answers 503 until the database is back, and seeds then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.metadata import PackageNotFoundError, version

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.logging import LoggingConfig
from litestar.plugins.prometheus import PrometheusController
from piccolo.engine.postgres import PostgresEngine

from housify_api.accounts.controller import MeController
from housify_api.admin.controller import AdminController
from housify_api.auth.controller import AuthController, jwks
from housify_api.auth.middleware import jwt_auth
from housify_api.billing.plugin import BillingPlugin
from housify_api.errors import EXCEPTION_HANDLERS
from housify_api.media.plugin import MediaPlugin
from housify_api.plans.controller import subscriptions
from housify_api.schemas import normalise_email
from housify_api.services import Services, build_services, providers
from housify_api.settings import ApiSettings, load_api_settings
from housify_api.system import edge
from housify_api.system.controller import health, ready, root
from housify_api.system.docs import docs_assets_router, openapi_config
from housify_api.system.error_docs import DocumentedErrors
from housify_api.system.mailbox_page import mailbox_routes
from housify_api.system.struct_schema import ClosedStructSchemaPlugin, JobInSchemaPlugin
from housify_api.system.web import web_dir, web_routers
from housify_api.tables import User

log = logging.getLogger("housify_api")
SEED_RETRY_SECONDS = 5.0
SESSION_PURGE_SECONDS = 3600.0


class MetricsController(PrometheusController):
    """Prometheus text format at ``/metrics`` (request counts and latencies per route)."""

    path = "/metrics"
    opt = {"exclude_from_auth": True}
    include_in_schema = False


def _version() -> str:
    try:
        return version("housify")
    except PackageNotFoundError:
        return "0.0.0"


async def _start_pool() -> None:
    engine = User._meta.db
    if isinstance(engine, PostgresEngine) and engine.pool is None:
        await engine.start_connection_pool(reset=_skip_session_reset)


async def _prepare_database(services: Services) -> None:
    """Start the pool if start-up could not, seed levels and the superuser; retried while the database is down."""
    while True:
        try:
            await _start_pool()
            await services.levels.seed()
            await bootstrap_superuser(services)
            return
        except (OSError, ConnectionError) as exc:
            log.error("database unavailable at start-up (%s); retrying in %.0f s", exc, SEED_RETRY_SECONDS)
        except Exception as exc:  # noqa: BLE001 - e.g. asyncpg/sqlite errors when tables are missing
            log.error(
                "cannot seed the database (%s: %s); run `housify-api migrate`? retrying in %.0f s",
                type(exc).__name__,
                exc,
                SEED_RETRY_SECONDS,
            )
        await asyncio.sleep(SEED_RETRY_SECONDS)


async def _purge_sessions_periodically(services: Services) -> None:
    """Hourly housekeeping: expired sessions out of the table (every instance may run it; deletes are idempotent)."""
    while True:
        await asyncio.sleep(SESSION_PURGE_SECONDS)
        try:
            purged = await services.auth.purge_expired_sessions()
            if purged:
                log.info("purged %d expired session(s)", purged)
        except Exception as exc:  # noqa: BLE001 - housekeeping must not die with the database
            log.error("session purge failed: %s: %s", type(exc).__name__, exc)


async def bootstrap_superuser(services: Services) -> None:
    """Create the admin ``HOUSIFY_SUPERUSER_EMAIL`` with ``HOUSIFY_SUPERUSER_PASSWORD(_FILE)`` if missing."""
    settings = services.settings
    if not (settings.superuser_email and settings.superuser_password):
        return
    email = normalise_email(settings.superuser_email)
    if await User.exists().where(User.email == email):
        return
    await services.auth.create_user(email, settings.superuser_password, role="admin", verified=True)
    log.info("superuser %s created", email)


async def _skip_session_reset(connection: object) -> None:
    """asyncpg's pool resets each released connection with one more round trip
    (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``): as costly as the
    query itself on ``GET /users/me``. Housify sets no session state, takes no advisory
    locks and uses no LISTEN, so that reset is skipped; asyncpg still ends any open
    transaction before a connection returns to the pool (asyncpg ``create_pool(reset=)``)."""


def _flush_logs() -> None:
    """Write out the records the root logger's queue handler still holds.

    Its listener thread is drained by an ``atexit`` hook, which a process ended by SIGTERM
    never runs (uvicorn re-raises the signal after its graceful shutdown; granian ends its
    worker): the last lines of a shutdown were lost. ``stop()`` drains and joins the thread;
    ``start()`` lets anything logged later still be written.
    """
    for handler in logging.getLogger().handlers:
        listener = getattr(handler, "listener", None)
        if listener is not None and getattr(listener, "_thread", None) is not None:
            listener.stop()
            listener.start()


@contextlib.asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    engine = User._meta.db
    try:
        await _start_pool()
    except Exception as exc:  # noqa: BLE001 - serve anyway (503s); _prepare_database retries the pool
        log.error("PostgreSQL connection pool not started: %s: %s", type(exc).__name__, exc)
    services: Services = app.state.services
    background = [
        asyncio.create_task(_prepare_database(services)),
        asyncio.create_task(_purge_sessions_periodically(services)),
    ]
    try:
        yield
    finally:
        for task in background:
            task.cancel()
        await services.aclose()
        if isinstance(engine, PostgresEngine) and engine.pool is not None:
            await engine.close_connection_pool()
        log.info("lifespan shutdown complete: background tasks stopped, Redis and the database pool closed")
        _flush_logs()


def create_app(settings: ApiSettings | None = None) -> Litestar:
    """The housify-api app for ``settings`` (from the environment when ``None``).

    The database is the one ``PICCOLO_CONF`` names (``HOUSIFY_DATABASE_URL``,
    read when the tables were imported); ``settings.database_url`` is informational.

    Raises:
        housify_common.settings.SettingsError: bad configuration (``KeyConfigError`` for keys), naming the variable.
    """
    settings = settings or load_api_settings()
    services = build_services(settings)
    auth = jwt_auth(services.authenticator, settings.access_token_ttl_seconds)
    web_root = web_dir(settings.web_dir)
    app = Litestar(
        route_handlers=[
            root,
            health,
            ready,
            MetricsController,
            jwks,
            subscriptions,
            AuthController,
            MeController,
            AdminController,
            docs_assets_router(),
            *web_routers(web_root, settings.web_example_dir),
            *mailbox_routes(settings),
        ],
        state=State({"services": services, "web_dir": web_root}),
        dependencies=providers(),
        plugins=[MediaPlugin(), BillingPlugin(), DocumentedErrors(), JobInSchemaPlugin(), ClosedStructSchemaPlugin()],
        on_app_init=[auth.on_app_init],
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi_config(_version()),
        cors_config=CORSConfig(allow_origins=settings.cors_origins, allow_credentials=False)
        if settings.cors_origins
        else None,
        logging_config=LoggingConfig(
            root={"level": "INFO", "handlers": ["queue_listener"]},
            log_exceptions="always",
            # HTTPException itself too: Litestar matches the *class's* status_code (500 for a plain
            # HTTPException(status_code=422, ...)), so every such client error logged an ERROR traceback
            # (found fuzzing: one per rejected upload). Unexpected exceptions keep their traces.
            # RecursionError: a body nested too deeply (errors.nesting_handler answers 400).
            disable_stack_trace={400, 401, 403, 404, 405, 409, 413, 422, 429, 503, HTTPException, RecursionError},
        ),
    )
    # Request metrics and the security headers: one pure-ASGI layer around the router (system/edge.py).
    return edge.install(app)
