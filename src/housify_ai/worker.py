"""The queue consumer: claims jobs, runs them, publishes events and results (docs/ai-server.md).

:class:`Worker` is generic over a :data:`JobHandler` (a :class:`TaskDispatcher`
over the registered tasks' handlers in production, a no-op in ``bench/ai_queue.py``). It runs
``concurrency`` job loops and one heartbeat loop on the event loop; inference
itself runs in threads, or in a child process for native code that holds the
GIL (:mod:`housify_ai.upscale`). Every job ends in exactly one of succeeded / failed /
cancelled:

* a request that does not decode, or a job delivered more than the retry
  limit (its workers kept dying), fails with the reason;
* a job whose cancellation flag is set before it starts is cancelled unrun;
* a job that runs past its task's deadline (``HOUSIFY_AI_DEADLINES``) fails
  with ``deadline: ...`` and ``expired="run"`` (the API then stops counting it
  against the user's hourly limit);
* an exception in the handler fails the job with the error and the worker
  carries on; :class:`~housify_ai.errors.JobCancelled` cancels it.

Embedding (``housify standalone``): ``await run_worker(settings, stop_event)``
on the shared fakeredis server (``HOUSIFY_REDIS_URL`` empty).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from housify_ai.contract import (
    MAX_SEED,
    JobEvent,
    JobRequest,
    JobResult,
    PreviewEvent,
    ProgressEvent,
    StartedEvent,
    StreamKeys,
    end_event,
)
from housify_ai.errors import JobCancelled, ModelLoadError, TaskUnavailable
from housify_ai.queue import Delivery, JobQueue
from housify_ai.settings import AISettings
from housify_ai.tasks import deadlines
from housify_common.redis import RedisClient, redis_from_url
from housify_common.storage import StorageUnavailable

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    """What a handler gets: the request, the seed to use, and a way to report steps."""

    request: JobRequest
    seed: int
    attempt: int
    queue: JobQueue
    loop: asyncio.AbstractEventLoop
    started_at: float = field(default_factory=time.time)
    deadline_at: float = float("inf")
    """Unix seconds after which the job must stop (its task's deadline, ``HOUSIFY_AI_DEADLINES``)."""

    def past_deadline(self) -> bool:
        return time.time() > self.deadline_at

    async def should_stop(self) -> bool:
        """True when the job has been flagged for cancellation or is past its deadline (one Redis round trip)."""
        return self.past_deadline() or await self.queue.emit_and_check_cancel(self.request.job_id, [])

    async def progress(self, step: int, total: int, preview: str | None = None) -> bool:
        """Append ``progress`` (and ``preview``) events; True when the job has been flagged for cancellation
        or is past its deadline (the handler then stops as for a cancellation)."""
        now = time.time()
        job_id = self.request.job_id
        events: list[JobEvent] = [ProgressEvent(job_id=job_id, step=step, total=total, at=now, attempt=self.attempt)]
        if preview is not None:
            events.append(
                PreviewEvent(job_id=job_id, step=step, total=total, preview=preview, at=now, attempt=self.attempt)
            )
        return await self.queue.emit_and_check_cancel(job_id, events) or self.past_deadline()

    def progress_from_thread(self, step: int, total: int, preview: str | None = None) -> bool:
        """:meth:`progress` from an inference thread; waits so events stay in step order."""
        return asyncio.run_coroutine_threadsafe(self.progress(step, total, preview), self.loop).result(timeout=60)


JobHandler = Callable[[JobContext], Awaitable[JobResult]]


class TaskHandler(Protocol):
    """A loaded task handler (``TaskSpec.handler``'s factory made it): runs jobs, describes its models."""

    async def __call__(self, ctx: JobContext) -> JobResult: ...

    def describe(self) -> list[dict[str, Any]]:
        """What ``GET /models`` and the heartbeat show of the models it loaded."""
        ...


class _Attempt(TypedDict):
    """The :class:`JobResult` fields every outcome of one delivery shares."""

    job_id: str
    started_at: float
    attempts: int


#: Seconds past its deadline a handler that reports no steps gets before it is cancelled.
DEADLINE_GRACE_SECONDS = 5.0


class Worker:
    """One worker process's consumer: ``concurrency`` job loops over one :class:`JobQueue`."""

    def __init__(
        self,
        settings: AISettings,
        handler: JobHandler,
        *,
        client: RedisClient | None = None,
        describe: Callable[[], list[dict[str, Any]]] | None = None,
        report: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self.client = client if client is not None else redis_from_url(settings.redis_url)
        self.keys = StreamKeys(settings.redis_prefix)
        self.queue = JobQueue(
            self.client,
            self.keys,
            settings.consumer_name,
            visibility_timeout=settings.ai_visibility_timeout,
            block_ms=settings.ai_block_ms,
            batch=settings.ai_concurrency,  # one read can feed every idle job loop
        )
        self.describe = describe or (list)
        self.report = report or getattr(handler, "status", None) or dict
        self.running: dict[str, float] = {}
        self.processed = 0
        self.deadlines = deadlines(settings.ai_deadlines)

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Serve jobs until ``stop`` is set; jobs already running are finished first. ``ready`` is set
        once the worker reads the job streams."""
        await self.queue.setup()
        if ready is not None:
            ready.set()
        log.info("worker %s serving levels %s", self.settings.consumer_name, self.queue.levels)
        loops = [
            asyncio.create_task(self._job_loop(stop), name=f"job-loop-{i}") for i in range(self.settings.ai_concurrency)
        ]
        beat = asyncio.create_task(self._heartbeat_loop(stop), name="heartbeat")
        try:
            await asyncio.gather(*loops)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            with contextlib.suppress(Exception):
                await self.client.hdel(self.keys.workers(), self.settings.consumer_name)

    async def _job_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                delivery = await self.queue.claim()
            except Exception as exc:  # noqa: BLE001 - Redis down: wait and retry rather than die
                log.error("cannot read the job streams: %s; retrying in 1 s", exc)
                await asyncio.sleep(1.0)
                continue
            if delivery is None:
                continue
            try:
                await self.process(delivery)
            except Exception as exc:  # noqa: BLE001 - Redis lost mid-job: the entry stays pending and is taken over later
                log.error("job %s could not be finished (%s); it stays pending for a retry", delivery.job_id, exc)
                self.queue.release(delivery)

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        interval = max(0.05, self.settings.ai_visibility_timeout / 3)
        while not stop.is_set():
            try:
                await self.queue.heartbeat()
                status = {
                    "consumer": self.settings.consumer_name,
                    "models": self.describe(),
                    "running": list(self.running),
                    "processed": self.processed,
                    "seen_at": time.time(),
                    **self.report(),
                }
                await self.client.hset(self.keys.workers(), self.settings.consumer_name, msgspec.json.encode(status))
            except Exception as exc:  # noqa: BLE001 - a missed heartbeat must not stop the worker; the next one retries
                log.error("heartbeat failed: %s", exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def process(self, delivery: Delivery) -> JobResult:
        """Run one claimed job to its end and publish the outcome."""
        now = time.time()
        request = delivery.request
        base = _Attempt(job_id=delivery.job_id, started_at=now, attempts=delivery.deliveries)
        if request is None:
            return await self._end(delivery, JobResult(status="failed", error=delivery.error, finished_at=now, **base))
        if delivery.deliveries > self.settings.ai_retry_limit:
            reason = (
                f"gave up after {delivery.deliveries - 1} attempts (retry limit {self.settings.ai_retry_limit}): "
                f"the worker running it stopped without finishing"
            )
            return await self._end(delivery, JobResult(status="failed", error=reason, finished_at=now, **base))
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        started = StartedEvent(
            job_id=request.job_id,
            total=request.total_steps(),
            seed=seed,
            at=now,
            attempt=delivery.deliveries,
        )
        verdict = await self.queue.begin(request.job_id, started)
        if verdict == "done":
            # A copy of a job whose result is already out (two workers ran it): drop it.
            await self.queue.ack(delivery)
            return JobResult(status="failed", job_id=delivery.job_id, error="duplicate delivery")
        if verdict == "cancelled":
            return await self._end(
                delivery, JobResult(status="cancelled", error="cancelled before it started", finished_at=now, **base)
            )

        deadline = self.deadlines[request.task]
        ctx = JobContext(
            request=request,
            seed=seed,
            attempt=delivery.deliveries,
            queue=self.queue,
            loop=asyncio.get_running_loop(),
            deadline_at=now + deadline,
        )
        self.running[delivery.job_id] = now
        past_deadline = JobResult(
            status="failed",
            seed=seed,
            error=f"deadline: {request.task} may run at most {deadline:.0f} s on a worker and this job ran longer; "
            "it is not counted against your hourly limit",
            expired="run",
            **base,
        )
        try:
            # Handlers stop at their next step once past the deadline (``progress`` says so); the timeout
            # is the backstop for one that reports no steps in time (its child process is killed).
            result = await asyncio.wait_for(self.handler(ctx), timeout=deadline + DEADLINE_GRACE_SECONDS)
        except (JobCancelled, TimeoutError) as exc:
            if isinstance(exc, TimeoutError) or ctx.past_deadline():
                log.warning("job %s (%s) ran past its deadline of %.0f s", delivery.job_id, request.task, deadline)
                result = msgspec.structs.replace(past_deadline, finished_at=time.time())
            else:
                result = JobResult(status="cancelled", seed=seed, error="cancelled", finished_at=time.time(), **base)
        except (RedisConnectionError, RedisTimeoutError, StorageUnavailable):
            # Redis (progress events) or the image store (source, result) went away mid-job: not
            # the job's fault. The entry stays pending (the job loop releases it) and runs again
            # after the visibility timeout, up to the retry limit.
            raise
        except Exception as exc:
            log.exception("job %s failed", delivery.job_id)
            result = JobResult(
                status="failed", seed=seed, error=f"{type(exc).__name__}: {exc}", finished_at=time.time(), **base
            )
        finally:
            self.running.pop(delivery.job_id, None)
        result = msgspec.structs.replace(result, attempts=delivery.deliveries)
        return await self._end(delivery, result)

    async def _end(self, delivery: Delivery, result: JobResult) -> JobResult:
        event = end_event(
            result.job_id,
            result.status,
            message=result.error,
            at=result.finished_at or time.time(),
            seed=result.seed,
            image_key=result.image_key,
            attempt=delivery.deliveries,
        )
        await self.queue.finish(delivery, result, event)
        self.processed += 1
        return result


class TaskDispatcher:
    """The worker's handler: routes each job to the handler its task declares (:mod:`housify_ai.tasks`).

    Handlers are created once per factory (``text2img``, ``img2img`` and
    ``inpaint`` share one :class:`~housify_ai.jobs.ImageJobHandler`, so one
    diffusion model), at start. A handler that cannot load leaves its tasks out
    (:attr:`unavailable` says why, with the fix) unless one of them is in
    ``HOUSIFY_AI_REQUIRED_TASKS``: then the worker does not start.
    """

    def __init__(self, handlers: dict[str, TaskHandler], unavailable: dict[str, str] | None = None) -> None:
        self.handlers = handlers
        self.unavailable = dict(unavailable or {})

    @classmethod
    async def create(cls, settings: AISettings, tasks: tuple[str, ...] | None = None) -> TaskDispatcher:
        """Load the handlers of ``tasks`` (default: every registered task).

        Raises:
            housify_ai.errors.ModelLoadError: a required task (``HOUSIFY_AI_REQUIRED_TASKS``) cannot
                load, or none at all can; the message names the task and why.
        """
        from housify_ai.tasks import REGISTRY, get_task, load_handler

        required = set(settings.ai_required_tasks)  # known task names (checked by the settings)
        made: dict[str, TaskHandler] = {}
        failed: dict[str, str] = {}
        handlers: dict[str, TaskHandler] = {}
        unavailable: dict[str, str] = {}
        for name in tasks or tuple(REGISTRY):
            spec = get_task(name)
            if spec.handler not in made and spec.handler not in failed:
                try:
                    made[spec.handler] = await load_handler(spec).create(settings)
                except Exception as exc:  # noqa: BLE001 - any load failure leaves the task out (or stops a required one)
                    failed[spec.handler] = _why(exc)
            if spec.handler in failed:
                if name in required:
                    raise ModelLoadError(
                        f"HOUSIFY_AI_REQUIRED_TASKS: task {name} is required but cannot load: {failed[spec.handler]}"
                    )
                unavailable[name] = failed[spec.handler]
                continue
            handlers[name] = made[spec.handler]
        if not handlers:
            raise ModelLoadError(f"no task can load: {'; '.join(f'{k}: {v}' for k, v in unavailable.items())}")
        for name, reason in unavailable.items():
            log.warning("task %s is off on this worker: %s", name, reason)
        if unavailable:
            log.warning("this worker runs %s (HOUSIFY_AI_REQUIRED_TASKS makes a task mandatory)", ", ".join(handlers))
        return cls(handlers, unavailable)

    def status(self) -> dict[str, Any]:
        """What the worker's heartbeat reports (:mod:`housify_ai.availability`): the tasks it runs and why not the others."""
        return {"tasks": list(self.handlers), "unavailable": dict(self.unavailable)}

    def describe(self) -> list[dict[str, Any]]:
        seen: dict[int, TaskHandler] = {id(h): h for h in self.handlers.values()}
        return [model for handler in seen.values() for model in handler.describe()]

    async def __call__(self, ctx: JobContext) -> JobResult:
        handler = self.handlers.get(ctx.request.task)
        if handler is None:
            raise ValueError(
                f"task: this worker does not run {ctx.request.task!r} (it runs {', '.join(self.handlers)})"
            )
        return await handler(ctx)


def _why(exc: BaseException) -> str:
    """A load failure in one line: the message of our own errors, else the exception's type and text."""
    if isinstance(exc, (TaskUnavailable, ModelLoadError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def run_worker(
    settings: AISettings, stop: asyncio.Event, *, client: RedisClient | None = None, ready: asyncio.Event | None = None
) -> None:
    """Load the registered tasks' handlers (those that can load) and serve jobs until ``stop`` is set.

    Raises:
        housify_ai.errors.ModelLoadError: a required task cannot load (e.g. the diffusion model).
    """
    dispatcher = await TaskDispatcher.create(settings)
    worker = Worker(settings, dispatcher, client=client, describe=dispatcher.describe, report=dispatcher.status)
    await worker.run(stop, ready)
