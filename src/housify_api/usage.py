"""The service-call log (docs/design.md "Jobs: the API ↔ AI protocol", service-call log): recording calls and reading usage.

The media engineer's code records every AI call with :func:`record_service_call`;
``GET /users/me/usage`` reads :func:`user_usage`, ``GET /admin/analytics/service-calls``
reads :func:`service_call_analytics`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from uuid import UUID

from litestar.exceptions import ValidationException

from housify_api.auth.identity import SERVICES
from housify_api.pagination import Page
from housify_api.schemas import Output
from housify_api.tables import ServiceCall

ERROR_MAX = 2000


class ServiceCallOut(Output):
    id: UUID
    service: str
    request_time: datetime
    start_time: datetime | None
    completion_time: datetime | None
    duration_ms: int | None
    success: bool
    error: str | None


class ServiceTotals(Output):
    service: str
    calls: int
    successes: int
    failures: int
    avg_duration_ms: float | None


class Usage(Output):
    """A user's calls, newest first (``calls``), and totals per service over all time (``totals``)."""

    calls: Page[ServiceCallOut]
    totals: list[ServiceTotals]


class Bucket(Output):
    key: int
    calls: int
    successes: int


class Analytics(Output):
    """Calls in ``[since, until)`` grouped by hour of day (0–23, UTC), ISO weekday (1=Monday … 7=Sunday) and service."""

    since: datetime
    until: datetime
    total: int
    by_hour_of_day: list[Bucket]
    by_day_of_week: list[Bucket]
    by_service: list[ServiceTotals]


async def record_service_call(
    service: str,
    user_id: UUID | None,
    *,
    request_time: datetime,
    start_time: datetime | None = None,
    completion_time: datetime | None = None,
    success: bool,
    error: str | None = None,
) -> UUID:
    """Log one AI service call; returns its id.

    Args:
        service: one of :data:`housify_api.auth.identity.SERVICES`.
        user_id: the caller (``None`` for system calls).
        request_time / start_time / completion_time: aware datetimes (UTC) when the call
            was asked for, began running, and ended; ``duration_ms`` is derived from
            start (or request) to completion.
        success: whether it produced its result.
        error: a short reason when it failed (cut to 2,000 characters).

    Raises:
        ValueError: for an unknown service name.
    """
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; known: {', '.join(SERVICES)}")
    duration_ms = None
    if completion_time is not None:
        duration_ms = int(((completion_time - (start_time or request_time)).total_seconds()) * 1000)
    row = ServiceCall(
        service=service,
        user=user_id,
        request_time=request_time,
        start_time=start_time,
        completion_time=completion_time,
        duration_ms=duration_ms,
        success=success,
        error=error[:ERROR_MAX] if error else None,
    )
    await row.save()
    return row.id


_CALL_COLUMNS = (
    ServiceCall.id,
    ServiceCall.service,
    ServiceCall.request_time,
    ServiceCall.start_time,
    ServiceCall.completion_time,
    ServiceCall.duration_ms,
    ServiceCall.success,
    ServiceCall.error,
)


def _totals(rows: list[dict]) -> list[ServiceTotals]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["service"]].append(row)
    out = []
    for service in sorted(grouped):
        items = grouped[service]
        durations = [r["duration_ms"] for r in items if r["duration_ms"] is not None]
        ok = sum(1 for r in items if r["success"])
        out.append(
            ServiceTotals(
                service=service,
                calls=len(items),
                successes=ok,
                failures=len(items) - ok,
                avg_duration_ms=round(sum(durations) / len(durations), 1) if durations else None,
            )
        )
    return out


async def user_usage(user_id: UUID, *, limit: int, offset: int) -> Usage:
    """One page of ``user_id``'s calls plus per-service totals."""
    where = ServiceCall.user == user_id
    rows = (
        await ServiceCall.select(*_CALL_COLUMNS)
        .where(where)
        .order_by(ServiceCall.request_time, ascending=False)
        .limit(limit)
        .offset(offset)
    )
    total = await ServiceCall.count().where(where)
    summary = await ServiceCall.select(ServiceCall.service, ServiceCall.success, ServiceCall.duration_ms).where(where)
    return Usage(
        calls=Page(items=[ServiceCallOut(**row) for row in rows], total=total, limit=limit, offset=offset),
        totals=_totals(summary),
    )


async def service_call_analytics(since: datetime | None, until: datetime | None, service: str | None) -> Analytics:
    """Global usage patterns (by hour of day, weekday and service), computed from the log.

    Defaults: the last 30 days. Grouping is done here rather than in SQL so the
    same code runs on PostgreSQL and SQLite (their date functions differ).

    Raises:
        ValidationException: ``since`` not before ``until``, or an unknown ``service``.
    """
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=30)
    if since.tzinfo is None or until.tzinfo is None:
        raise ValidationException("since/until: give a time zone, e.g. 2026-11-01T00:00:00Z")
    if since >= until:
        raise ValidationException("since: must be before until")
    if service is not None and service not in SERVICES:
        raise ValidationException(f"service: unknown service {service!r}; known: {', '.join(SERVICES)}")
    where = (ServiceCall.request_time >= since) & (ServiceCall.request_time < until)
    if service is not None:
        where &= ServiceCall.service == service
    rows = await ServiceCall.select(
        ServiceCall.service, ServiceCall.success, ServiceCall.duration_ms, ServiceCall.request_time
    ).where(where)
    hours: Counter[int] = Counter()
    hours_ok: Counter[int] = Counter()
    days: Counter[int] = Counter()
    days_ok: Counter[int] = Counter()
    for row in rows:
        at = row["request_time"].astimezone(UTC)
        hours[at.hour] += 1
        days[at.isoweekday()] += 1
        if row["success"]:
            hours_ok[at.hour] += 1
            days_ok[at.isoweekday()] += 1
    return Analytics(
        since=since,
        until=until,
        total=len(rows),
        by_hour_of_day=[Bucket(key=h, calls=hours[h], successes=hours_ok[h]) for h in range(24)],
        by_day_of_week=[Bucket(key=d, calls=days[d], successes=days_ok[d]) for d in range(1, 8)],
        by_service=_totals(rows),
    )
