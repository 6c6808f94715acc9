"""The piccolo engine for a ``HOUSIFY_DATABASE_URL``.

``postgresql://user@host:port/db`` gives a :class:`PostgresEngine` (asyncpg,
with a connection pool opened in the app's lifespan); ``sqlite:///path`` gives
a :class:`SQLiteEngine` for the embedded default. piccolo binds tables to the
engine of the module named by ``PICCOLO_CONF`` when the table module is
imported, so each service's entry point sets ``PICCOLO_CONF`` first
(piccolo docs, "Engines": a table's ``_meta.db`` is resolved from the
configuration module when the class is created; see docs/design.md).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from housify_common.settings import SettingsError, default_data_dir

__all__ = [
    "database_url_from_env",
    "default_data_dir",
    "default_database_url",
    "engine_from_url",
    "is_permanent_error",
    "migrate_all",
]

#: Errors of either engine's driver that the same statement with the same values raises again
#: (constraint and data errors: PostgreSQL SQLSTATE classes 23 and 22, asyncpg's
#: ``IntegrityConstraintViolationError`` and ``DataError``; sqlite3's ``IntegrityError`` and
#: ``DataError``, PEP 249), and values piccolo refuses before sending (``ValueError``, ``TypeError``).
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.DataError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    ValueError,
    TypeError,
)


def is_permanent_error(exc: BaseException) -> bool:
    """Whether a retry of the failed database write cannot succeed (:data:`PERMANENT_ERRORS`);
    connection errors and the like are not permanent."""
    return isinstance(exc, PERMANENT_ERRORS)


def default_database_url() -> str:
    """The embedded default: one SQLite file under the data directory."""
    return f"sqlite:///{default_data_dir() / 'housify.sqlite'}"


def database_url_from_env() -> str:
    """``HOUSIFY_DATABASE_URL``, or the contents of ``HOUSIFY_DATABASE_URL_FILE``
    (a URL with a password is a secret: NixOS passes it as a credential file).
    Empty when neither is set, which selects the embedded SQLite default.

    Raises:
        SettingsError: the ``_FILE`` cannot be read (names the variable).
    """
    path = os.environ.get("HOUSIFY_DATABASE_URL_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"HOUSIFY_DATABASE_URL_FILE: cannot read {path!r}: {exc.strerror}") from exc
    return os.environ.get("HOUSIFY_DATABASE_URL", "")


def engine_from_url(url: str | None) -> Engine:
    """An engine for ``url``; the embedded SQLite default when ``url`` is empty.

    Raises:
        SettingsError: (a ``ValueError``) for a scheme other than ``postgresql``/``postgres``/``sqlite``.
    """
    url = url or default_database_url()
    scheme = urlsplit(url).scheme
    if scheme in ("postgresql", "postgres"):
        return PostgresEngine(config={"dsn": url})
    if scheme == "sqlite":
        # SQLAlchemy convention: sqlite:///relative.db, sqlite:////absolute/path.db
        path = Path(url[len("sqlite:///") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteEngine(path=str(path))
    raise SettingsError(f"HOUSIFY_DATABASE_URL: unsupported scheme {scheme!r}; use postgresql:// or sqlite:///")


async def migrate_all() -> None:
    """Apply every pending piccolo migration of the apps in ``PICCOLO_CONF``'s registry."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    response = await run_forwards(app_name="all", migration_id="all", fake=False)
    if not response.success:
        raise RuntimeError(f"migrations failed: {response.message}")
