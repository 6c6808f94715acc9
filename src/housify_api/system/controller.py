"""``/`` (welcome), ``/health`` (liveness: the process answers), ``/ready`` (PostgreSQL/SQLite and Redis answer)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from piccolo.querystring import QueryString

from housify_api.schemas import Message, Output
from housify_api.system.web import index_response, wants_html
from housify_api.tables import User
from housify_common.redis import RedisClient

log = logging.getLogger("housify_api.system")
PUBLIC = {"exclude_from_auth": True}
#: Public and touching no dependency: no 503 in the schema (``housify_api.system.error_docs``).
OFFLINE = {**PUBLIC, "offline": True}
CHECK_TIMEOUT_SECONDS = 2.0


class Health(Output):
    status: str


class Readiness(Output):
    """``status`` is ``ready`` when every check is ``ok``; otherwise a check holds the error."""

    status: str
    database: str
    redis: str


@get("/", opt=OFFLINE, operation_id="root", tags=["system"])
async def root(request: Request[Any, Any, Any]) -> Message:
    """The JSON welcome; browsers (``Accept: text/html`` first) get the web app when one is built
    (``housify_api.system.web``)."""
    app_dir = request.app.state.get("web_dir")
    if app_dir is not None and wants_html(request):
        return index_response(app_dir)  # type: ignore[return-value]  # HTML page, not in the JSON schema
    return Message(message="Welcome to Housify API")


@get("/health", opt=OFFLINE, operation_id="health", tags=["system"])
async def health() -> Health:
    """Liveness: answers while the process runs, touching no dependency."""
    return Health(status="ok")


async def _check(name: str, probe: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; it is reported, not raised
        log.error("readiness: %s unavailable: %s: %s", name, type(exc).__name__, exc)
        return f"unavailable: {type(exc).__name__}"
    return "ok"


@get(
    "/ready",
    opt=OFFLINE,
    operation_id="ready",
    tags=["system"],
    responses={
        503: ResponseSpec(Readiness, description="a dependency did not answer; the failing check holds the error")
    },
)
async def ready(redis: NamedDependency[RedisClient]) -> Response[Readiness]:
    """Readiness: 200 when the database and Redis answer within 2 s each, else 503 with which failed."""
    database_check, redis_check = await asyncio.gather(
        _check("database", User._meta.db.run_querystring(_select_one())),
        _check("redis", redis.ping()),
    )
    ok = database_check == "ok" and redis_check == "ok"
    return Response(
        Readiness(status="ready" if ok else "unavailable", database=database_check, redis=redis_check),
        status_code=200 if ok else 503,
    )


def _select_one() -> QueryString:
    return QueryString("SELECT 1")
