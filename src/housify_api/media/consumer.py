"""The results consumer: records each finished job from the AI workers in PostgreSQL.

Reads the contract's results stream with consumer group ``RESULTS_GROUP``, so
with N API instances each result is handled by one of them. Handling is
idempotent by job id — the result's image row gets an id derived from the job
id (UUID v5) and is inserted with ``ON CONFLICT DO NOTHING``, and a job that
already has its image or final state is left alone — so a result delivered
twice (an instance died before ``XACK``; ``XAUTOCLAIM`` hands its pending
entries to another) is recorded once. An entry is acknowledged only after its
transaction committed; a database error leaves it pending for a retry
(without limit for connection errors, :data:`MAX_PERMANENT_FAILURES` times for
constraint or data errors), and so does an image store that cannot be asked
for the result's size (``StorageUnavailable``). A result whose picture is not
in the store fails its job with that reason: nothing is recorded as stored
that is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from typing import Any, cast

import msgspec
from redis.exceptions import RedisError

from housify_ai.contract import RESULTS_GROUP, JobResult, ensure_groups, result_from_entry
from housify_api.media import calls, deadlines, quota
from housify_api.media.queue import Queue
from housify_api.media.tables import FINAL_STATUSES, Image, ImageKind, Job, JobStatus, job_params
from housify_common.db import is_permanent_error
from housify_common.storage import ImageStore

log = logging.getLogger("housify.media.consumer")

#: Stream entries as redis-py returns them in RESP2: ``(entry id, {field: value})``.
StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]
#: An ``XREADGROUP`` reply in RESP2: ``[(stream, entries), ...]`` (``None`` when the block timed out).
StreamReply = list[tuple[bytes, StreamEntries]] | None

#: Namespace of result image ids: ``uuid5(RESULT_IMAGE_NS, job_id)``.
RESULT_IMAGE_NS = uuid.UUID("0b6c1f6e-6a35-4a55-9d0c-5f1e3c1f9a10")
#: Pending entries of another API instance idle this long are taken over.
CLAIM_IDLE_MS = 60_000


#: A result whose recording fails with a constraint or data error (which a retry
#: cannot fix) is dropped, with a log line, after this many attempts, so it cannot
#: hold up the results behind it. Connection errors are retried without limit.
MAX_PERMANENT_FAILURES = 5


def _when(unix: float) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(unix, dt.UTC) if unix else None


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ResultsConsumer:
    """Runs :meth:`run` as a background task between :meth:`start` and :meth:`stop`."""

    def __init__(
        self, queue: Queue, store: ImageStore, name: str = "", *, block_ms: int = 1000, batch: int = 50
    ) -> None:
        self.queue = queue
        self.store = store
        self.name = name or default_consumer_name()
        self.block_ms = block_ms
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._failures: dict[Any, int] = {}
        self.handled = 0

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"results-consumer-{self.name}")

    async def stop(self) -> None:
        """Stop after the entry in hand. The flag matters: a blocking read may swallow a
        cancellation, so ``cancel()`` alone could leave the loop running."""
        if self._task is not None:
            self._stopping.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        stream = self.queue.streams.results()
        client = self.queue.client
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await ensure_groups(client, self.queue.streams)
                await self._drain(stream, "0")  # our own pending entries first (restart after a crash)
                while not self._stopping.is_set():
                    await self._take_over_stale(stream)
                    # the in-process stand-in blocks like Redis too (housify_common.redis)
                    if await self._drain(stream, ">", block=True):
                        backoff = 0.5
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.error("results consumer: Redis unavailable (%s); retrying in %.1f s", exc, backoff)
            except Exception:  # a database error: leave the entry pending, retry later
                log.exception("results consumer: recording a result failed; retrying in %.1f s", backoff)
            if self._stopping.is_set():
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _drain(self, stream: str, start: str, *, block: bool = False) -> int:
        reply = cast(
            "StreamReply",  # RESP2, the client's protocol: [(stream, [(id, fields), ...]), ...]
            await self.queue.client.xreadgroup(
                RESULTS_GROUP, self.name, {stream: start}, count=self.batch, block=self.block_ms if block else None
            ),
        )
        handled = 0
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                await self._handle_entry(stream, entry_id, fields)
                handled += 1
        return handled

    async def _take_over_stale(self, stream: str) -> None:
        reply = await self.queue.client.xautoclaim(
            stream, RESULTS_GROUP, self.name, min_idle_time=CLAIM_IDLE_MS, start_id="0-0", count=self.batch
        )
        entries = cast("StreamEntries", reply[1])  # [next start id, entries, deleted ids]
        for entry_id, fields in entries:
            if fields:  # deleted entries come back empty
                await self._handle_entry(stream, entry_id, fields)

    async def _handle_entry(self, stream: str, entry_id: Any, fields: dict[Any, Any]) -> None:
        try:
            result = result_from_entry(fields)
        except (msgspec.DecodeError, msgspec.ValidationError, KeyError) as exc:
            log.error("results consumer: dropping undecodable entry %s: %s", entry_id, exc)
        else:
            try:
                await self.record(result)
            except Exception as exc:
                if not is_permanent_error(exc):
                    raise  # e.g. the database is down: keep the entry pending and retry after a pause
                attempts = self._failures[entry_id] = self._failures.get(entry_id, 0) + 1
                if attempts < MAX_PERMANENT_FAILURES:
                    raise
                log.error(
                    "results consumer: giving up on result of job %s after %d attempts: %s: %s",
                    result.job_id,
                    attempts,
                    type(exc).__name__,
                    exc,
                )
        await self.queue.client.xack(stream, RESULTS_GROUP, entry_id)
        self._failures.pop(entry_id, None)
        self.handled += 1

    async def record(self, result: JobResult) -> None:
        """Store the outcome of one job (idempotent)."""
        try:
            job_id = uuid.UUID(result.job_id)
        except ValueError:
            log.error("results consumer: result for a job id that is not ours: %r", result.job_id)
            return
        job = await Job.select().where(Job.id == job_id).first()
        if job is None:
            log.warning("results consumer: result for unknown job %s (deleted?)", job_id)
            return
        started, finished = _when(result.started_at), _when(result.finished_at) or dt.datetime.now(dt.UTC)
        if result.status == "succeeded" and result.image_key and result.thumb_key:
            if job["image"] is None:
                sizes = await self._stored_sizes(result)
                missing = [key for key, size in sizes.items() if size is None]
                if not missing:
                    charged = sum(sizes.get(key) or 0 for key in (result.image_key, result.thumb_key) if key)
                    await self._record_image(job, result, started, finished, charged)
                    return
                log.error("results consumer: job %s: result %s not in the image store", job_id, ", ".join(missing))
                result = msgspec.structs.replace(
                    result, status="failed", error=f"result not in the image store: {', '.join(missing)}"
                )
            else:
                return
        if job["status"] in FINAL_STATUSES:
            return
        error = result.error or ("cancelled" if result.status == "cancelled" else "the AI worker gave no reason")
        async with Job._meta.db.transaction():
            updated = (
                await Job.update(
                    {Job.status: result.status, Job.error: error, Job.started_at: started, Job.finished_at: finished}
                )
                .where((Job.id == job_id) & Job.status.not_in(list(FINAL_STATUSES)))
                .returning(Job.id)
            )
            if updated:
                await calls.job_ended(job, started=started, finished=finished, success=False, error=error)
        if updated:
            await deadlines.uncount(self.queue, job, result)  # a job a time bound ended uses up no hourly slot

    async def _stored_sizes(self, result: JobResult) -> dict[str, int | None]:
        """Size in bytes of the result's picture and thumbnail, ``None`` for one not in the store
        (``StorageUnavailable`` propagates: the entry stays pending and is retried)."""
        extra = (result.control.key, result.control.thumb_key) if result.control else ()
        return {key: await self.store.stat(key) for key in (result.image_key, result.thumb_key, *extra) if key}

    async def _record_control(self, job: dict[str, Any], result: JobResult, finished: dt.datetime) -> uuid.UUID:
        """The control image of a redesign, stored by the worker, as one more image of the job's owner."""
        assert result.control is not None
        image_id = uuid.uuid5(RESULT_IMAGE_NS, f"{job['id']}/control")
        await Image.insert(
            Image(
                id=image_id,
                owner=job["owner"],
                kind=ImageKind.control.value,  # belongs to its job: not in History, never public
                storage_key=result.control.key,
                thumb_key=result.control.thumb_key,
                content_type="image/png",
                size_bytes=0,  # not charged to the owner's storage (an internal file of the job)
                width=result.control.width,
                height=result.control.height,
                title="control image",
                created_at=finished,
            )
        ).on_conflict(target=Image.id, action="DO NOTHING")
        return image_id

    async def _record_image(
        self, job: dict[str, Any], result: JobResult, started: Any, finished: dt.datetime, size: int
    ) -> None:
        params = job_params(job)
        image_id = uuid.uuid5(RESULT_IMAGE_NS, str(job["id"]))
        async with Job._meta.db.transaction():
            inserted = (
                await Image.insert(
                    Image(
                        id=image_id,
                        owner=job["owner"],
                        kind=ImageKind.generated.value,
                        storage_key=result.image_key,
                        thumb_key=result.thumb_key,
                        content_type="image/png",
                        size_bytes=size,
                        width=result.width,
                        height=result.height,
                        title=(params.get("title") or params.get("prompt") or "")[:200],
                        public=bool(params.get("public", False)),
                        created_at=finished,
                    )
                )
                .on_conflict(target=Image.id, action="DO NOTHING")
                .returning(Image.id)
            )
            extra: dict[str, Any] = {}
            if result.control:  # redesign: the control image the picture kept to, one more picture of the owner
                extra["control_image_id"] = str(await self._record_control(job, result, finished))
            await Job.update(
                {
                    Job.status: JobStatus.succeeded.value,
                    Job.params: {
                        **params,
                        **extra,
                        "seed": result.seed if result.seed is not None else params.get("seed"),
                        **({"model": result.model} if result.model else {}),
                    },
                    Job.image: image_id,
                    Job.error: None,
                    Job.started_at: started,
                    Job.finished_at: finished,
                }
            ).where(Job.id == job["id"])
            if inserted:
                await quota.charge(job["owner"], size)
                await calls.job_ended(job, started=started, finished=finished, success=True)
