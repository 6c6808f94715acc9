"""Every call of an AI service goes into ``service_calls`` (docs/design.md "Jobs: the API ↔ AI protocol").

Through the accounts app's :func:`housify_api.usage.record_service_call`. A
generation job is logged once, when it ends (succeeded, failed or cancelled),
with the time it was asked for (the job's ``created_at``), started and
finished on the worker; the callers invoke this only on the job's transition
to its final state, so a result delivered twice is logged once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from housify_api.usage import record_service_call


async def job_ended(
    job: dict[str, Any], *, started: dt.datetime | None, finished: dt.datetime, success: bool, error: str | None = None
) -> None:
    """Log the call of the job row ``job`` (its ``task`` is the service name)."""
    await record_service_call(
        job["task"],
        job["owner"],
        request_time=job["created_at"],
        start_time=started,
        completion_time=finished,
        success=success,
        error=error,
    )
