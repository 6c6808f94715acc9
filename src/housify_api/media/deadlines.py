"""Time bounds of jobs, API side (docs/ai-server.md, "Deadlines").

* **Queued too long**: a job no AI worker has started within
  ``HOUSIFY_MEDIA_JOB_QUEUE_TIMEOUT`` seconds (no worker alive, or all busy) is
  ended here: every API instance looks every :data:`SWEEP_SECONDS` and
  publishes a ``failed`` result with ``expired="queue"`` and its terminal
  event, exactly as a worker would — one atomic Lua script, which does nothing
  once the job has started or has a result (the same result key guards the
  workers' ``finish``; a worker that claims the job later finds the result and
  drops it). The results consumer then records it.
* **Ran too long**: the worker ends a job past its task's deadline itself
  (``housify_ai.worker``, ``HOUSIFY_AI_DEADLINES``), with ``expired="run"``.

Either way the job is uncounted from the user's rolling hour
(:func:`uncount`, called by the results consumer), so it does not use up the
hourly limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import Any
from uuid import UUID

from housify_ai.contract import (
    EVENT_FIELD,
    EVENTS_MAXLEN,
    EVENTS_TTL_SECONDS,
    RESULT_FIELD,
    FailedEvent,
    JobResult,
    encode,
)
from housify_ai.queue import RESULT_KEY_TTL_SECONDS, RESULTS_MAXLEN
from housify_api.media import ratelimit
from housify_api.media.queue import Queue
from housify_api.media.tables import Job, JobStatus

log = logging.getLogger("housify.media.deadlines")

#: How often each API instance looks for jobs queued too long.
SWEEP_SECONDS = 30.0
#: Most jobs one look ends (the oldest first); the next look takes the rest.
SWEEP_BATCH = 200

# KEYS: result key, results stream, events stream
# ARGV: result JSON, event JSON, result TTL, results maxlen, events maxlen, events TTL, result field, event field
# Publishes only while the job's newest event is still ``queued`` (or it has none) and no result exists.
_EXPIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if #last > 0 then
  local fields, waiting = last[1][2], false
  for i = 1, #fields, 2 do
    if fields[i] == ARGV[8] and string.find(fields[i + 1], '"type":"queued"', 1, true) then waiting = true end
  end
  if not waiting then return 0 end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', ARGV[7], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', ARGV[8], ARGV[2])
redis.call('EXPIRE', KEYS[3], ARGV[6])
return 1
"""


def expired_message(timeout: float) -> str:
    return (
        f"expired: no AI worker started this job within {timeout / 60:.0f} min; "
        "it is not counted against your hourly limit"
    )


async def expire_queued(queue: Queue, queued_for: float, *, now: float | None = None) -> list[str]:
    """End the jobs queued for longer than ``queued_for`` seconds that no worker has started; their ids.

    Raises ``RedisError`` / database errors (the sweeping loop logs them and tries again).
    """
    now = time.time() if now is None else now
    cutoff = dt.datetime.fromtimestamp(now - queued_for, dt.UTC)
    rows = (
        await Job.select(Job.id)
        .where((Job.status == JobStatus.queued.value) & (Job.created_at < cutoff))
        .order_by(Job.created_at)
        .limit(SWEEP_BATCH)
    )
    script = queue.client.register_script(_EXPIRE)
    message = expired_message(queued_for)
    ended = []
    for row in rows:
        job_id = str(row["id"])
        result = JobResult(job_id=job_id, status="failed", error=message, finished_at=now, expired="queue")
        event = FailedEvent(job_id=job_id, message=message, at=now)
        keys = [queue.streams.result(job_id), queue.streams.results(), queue.streams.events(job_id)]
        args: list[Any] = [
            encode(result),
            encode(event),
            RESULT_KEY_TTL_SECONDS,
            RESULTS_MAXLEN,
            EVENTS_MAXLEN,
            EVENTS_TTL_SECONDS,
            RESULT_FIELD,
            EVENT_FIELD,
        ]
        if await script(keys=keys, args=args):
            ended.append(job_id)
    if ended:
        log.warning("ended %d job(s) queued longer than %.0f s: %s", len(ended), queued_for, ", ".join(ended))
    return ended


async def expire_queued_until(queue: Queue, queued_for: float, stop: asyncio.Event) -> None:
    """:func:`expire_queued` every :data:`SWEEP_SECONDS` until ``stop``; an outage only logs."""
    while not stop.is_set():
        try:
            await expire_queued(queue, queued_for)
        except Exception as exc:  # noqa: BLE001 - Redis or the database down; the next look retries
            log.error("could not end jobs queued too long: %s: %s", type(exc).__name__, exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=SWEEP_SECONDS)


async def uncount(queue: Queue, job: dict[str, Any], result: JobResult) -> None:
    """Take a job a time bound ended (``result.expired``) out of its owner's rolling hour."""
    if result.expired is None:
        return
    owner = job["owner"] if isinstance(job["owner"], UUID) else UUID(str(job["owner"]))
    if await ratelimit.release(queue.client, queue.hour_key(owner), str(job["id"])):
        log.info("job %s ended by its %s bound: uncounted from the owner's hour", job["id"], result.expired)
