"""Exception handlers, registered once in ``create_app`` (error shape: docs/design.md "Errors").

Every error body is Litestar's ``{"status_code", "detail", "extra"?}``.

- Unique violations (``asyncpg.UniqueViolationError``, ``sqlite3.IntegrityError``)
  -> 409: two requests raced past a service's own existence check.
- Text PostgreSQL cannot store (U+0000, ``asyncpg.CharacterNotInRepertoireError``) -> 400:
  the safety net behind the Structs' ``NO_NUL`` patterns, for query parameters and any
  string field without one (found by schemathesis: ``POST /auth/password-reset`` with a NUL was a 500).
- A body nested too deeply to decode (``RecursionError``) -> 400 naming ``body``.
- A list cursor this API did not issue (:class:`housify_api.pagination.CursorError`) -> 400
  naming ``cursor``, for every paginated route.
- PostgreSQL, SQLite or Redis unreachable -> 503 ``"<dependency> unavailable"``
  and one log line; nothing to do on recovery (pools reconnect on next use).
- The image store failing (``housify_common.storage.StorageUnavailable``: S3 down,
  disk full) -> 503 ``"image storage unavailable"``, the same way.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from typing import Any

import asyncpg
import redis.exceptions
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.exceptions.responses import ExceptionResponseContent, create_exception_response
from litestar.types import ExceptionHandlersMap

from housify_api.error_items import enrich
from housify_api.pagination import CursorError
from housify_common.storage import StorageUnavailable

log = logging.getLogger("housify_api.errors")


class ConflictError(HTTPException):
    """409: the request conflicts with what exists (duplicate e-mail, a limit reached by a race)."""

    status_code = 409


def _body(status: int, detail: str) -> Response[dict[str, object]]:
    return Response({"status_code": status, "detail": detail}, status_code=status, media_type=MediaType.JSON)


def _unavailable(request: Request, what: str, exc: BaseException) -> Response[dict[str, object]]:
    log.error("%s unavailable during %s %s: %s: %s", what, request.method, request.url.path, type(exc).__name__, exc)
    response = _body(503, f"{what} unavailable; try again shortly")
    response.headers["Retry-After"] = "5"
    return response


def conflict_handler(request: Request, exc: Exception) -> Response[dict[str, object]]:
    if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" not in str(exc).upper():
        log.exception("integrity error on %s %s", request.method, request.url.path, exc_info=exc)
        return _body(409, "the change conflicts with existing data")
    return _body(409, "a record with these values already exists")


def unstorable_text_handler(request: Request, exc: Exception) -> Response[dict[str, object]]:
    log.warning("refused text PostgreSQL cannot store on %s %s: %s", request.method, request.url.path, exc)
    return _body(400, "a text field or parameter contains U+0000 (NUL) or another character that cannot be stored")


def cursor_handler(request: Request, exc: Exception) -> Response[dict[str, object]]:
    return Response(
        {"status_code": 400, "detail": str(exc), "extra": [{"key": "cursor", "message": str(exc)}]},
        status_code=400,
        media_type=MediaType.JSON,
    )


def http_exception_handler(request: Request, exc: Exception) -> Response[Any]:
    """Litestar's answer for an ``HTTPException``, but always JSON from a route that sends binary.

    Litestar writes an error in the route handler's ``media_type``: a 403 from the data export's
    guard said ``Content-Type: application/zip`` over a JSON body (found fuzzing with an API key).
    """
    try:
        media_type = str(request.route_handler.media_type)
    except (KeyError, AttributeError):
        media_type = MediaType.JSON
    if media_type.startswith("text/") or "json" in media_type:
        return create_exception_response(request, exc)
    http = exc if isinstance(exc, HTTPException) else HTTPException()
    return ExceptionResponseContent(
        status_code=http.status_code,
        detail=http.detail,
        headers=http.headers,
        extra=http.extra,
        media_type=MediaType.JSON,
    ).to_response(request)


def nesting_handler(request: Request, exc: Exception) -> Response[dict[str, object]]:
    """A body nested so deeply that decoding it ran out of stack (``RecursionError``): the client's fault.

    ~3,000 levels of ``{"a":`` reached every JSON route, the unauthenticated ones too, and each
    logged a traceback (issue 21 item 10). One warning line, no traceback.
    """
    log.warning("refused a body nested too deeply on %s %s", request.method, request.url.path)
    return Response(
        {
            "status_code": 400,
            "detail": "body: JSON nested too deeply",
            "extra": [{"key": "body", "message": "nested too deeply"}],
        },
        status_code=400,
        media_type=MediaType.JSON,
    )


def redis_handler(request: Request, exc: Exception) -> Response[dict[str, object]]:
    if isinstance(
        exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError | redis.exceptions.BusyLoadingError
    ):
        return _unavailable(request, "Redis", exc)
    log.exception("Redis error on %s %s", request.method, request.url.path, exc_info=exc)
    return _body(500, "internal server error")


def database_handler(request: Request, exc: Exception) -> Response[dict[str, object]]:
    return _unavailable(request, "database", exc)


def _raised_by_asyncpg_connect(exc: BaseException) -> bool:
    """Whether ``exc`` came out of asyncpg's connection set-up (any frame in ``asyncpg/connect_utils.py``).

    Over a Unix socket (production: ``host=/run/postgresql``) a stopped server
    is a missing socket file: a bare ``FileNotFoundError`` whose message names
    no connection at all.
    """
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith("asyncpg/connect_utils.py"):
            return True
        tb = tb.tb_next
    return False


def os_error_handler(request: Request, exc: Exception) -> Response[dict[str, object]]:
    # asyncpg reports a refused or reset connection as OSError ("Connect call failed", "Multiple exceptions").
    if (
        isinstance(exc, ConnectionError | TimeoutError)
        or "connect" in str(exc).lower()
        or "Multiple exceptions" in str(exc)
        or _raised_by_asyncpg_connect(exc)
    ):
        return _unavailable(request, "database", exc)
    log.exception("OS error on %s %s", request.method, request.url.path, exc_info=exc)
    return _body(500, "internal server error")


def storage_handler(request: Request, exc: Exception) -> Response[dict[str, object]]:
    return _unavailable(request, "image storage", exc)


def sqlite_operational_handler(request: Request, exc: Exception) -> Response[dict[str, object]]:
    return _unavailable(request, "database", exc)


def _body_structs(request: Request) -> tuple[type, ...]:
    """The Struct types the route decodes its body into (a tagged union's members; none without a body)."""
    try:
        data = request.route_handler.parsed_fn_signature.parameters.get("data")
    except AttributeError:
        return ()
    if data is None:
        return ()
    annotation = data.annotation
    members = getattr(annotation, "struct_types", None) or getattr(annotation, "__args__", None) or (annotation,)
    return tuple(member for member in members if isinstance(member, type))


def invalid_input_handler(request: Request, exc: Exception) -> Response[dict[str, object]]:
    """400 and 422: Litestar's body, each ``extra`` item with a person's ``message`` and a ``rule``
    (:mod:`housify_api.error_items`); a ``"<field>: <rule>"`` detail without items gets one."""
    assert isinstance(exc, HTTPException)
    extra = exc.extra
    if extra is None and isinstance(exc.detail, str) and re.match(r"^[a-z_][a-z0-9_.]*: ", exc.detail):
        field, _, rule = exc.detail.partition(": ")
        extra = [{"key": field, "message": rule}]
    body: dict[str, object] = {"status_code": exc.status_code, "detail": exc.detail}
    if extra is not None:
        body["extra"] = enrich(extra, _body_structs(request))
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON, headers=exc.headers)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    400: invalid_input_handler,  # status codes go before classes (always JSON, as http_exception_handler)
    422: invalid_input_handler,
    HTTPException: http_exception_handler,
    CursorError: cursor_handler,
    RecursionError: nesting_handler,
    asyncpg.UniqueViolationError: conflict_handler,
    asyncpg.CharacterNotInRepertoireError: unstorable_text_handler,
    asyncpg.UntranslatableCharacterError: unstorable_text_handler,
    sqlite3.IntegrityError: conflict_handler,
    asyncpg.PostgresConnectionError: database_handler,
    asyncpg.InterfaceError: database_handler,
    asyncpg.CannotConnectNowError: database_handler,
    asyncpg.TooManyConnectionsError: database_handler,
    # A pooled connection whose server went away mid-operation ("cannot switch to state 11;
    # another operation is in progress"), seen once per PostgreSQL restart under load.
    asyncpg.InternalClientError: database_handler,
    sqlite3.OperationalError: sqlite_operational_handler,
    redis.exceptions.RedisError: redis_handler,
    OSError: os_error_handler,
    StorageUnavailable: storage_handler,
}
