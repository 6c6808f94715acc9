"""Job events over WebSockets: ``/jobs/{id}/events`` (one job) and ``/jobs/events`` (all of the caller's).

Authentication (browsers cannot set ``Authorization`` on a WebSocket): the
credential is read by :func:`housify_api.auth.credentials.from_websocket` (the
subprotocol pair ``Sec-WebSocket-Protocol: bearer, <token>``, answered with
``bearer``; or the usual headers). Only the job's owner (or an admin) may
listen to a job.

The server accepts the handshake first and then closes with a code and reason,
because a refused handshake reaches the client as a bare HTTP 403:

=====  =====================================================
1000   the job ended (after its terminal event)
4401   no token, or a bad / expired / revoked one
4404   no such job, or not the caller's (one answer for both: OWASP ASVS 4.0 §4.2.1)
4429   too many event streams open for this user (``HOUSIFY_MEDIA_EVENT_SOCKETS_PER_USER``)
1011   event stream unavailable (Redis down)
1013   the server's event streams are full (``HOUSIFY_MEDIA_EVENT_SOCKETS_MAX``); try again later
=====  =====================================================

Each message is one event of ``housify_ai.contract``'s tagged union on ``type``
as JSON (``housify_api.media.schemas.JobEventOut``, JSON Schema at
``GET /schema/job-events.json``): each type carries only its own fields. The
``succeeded`` event is sent once the result is recorded, with the new
picture's ``image_id`` added, so a client can fetch it at once. An entry of a
type this build does not know (written by a newer worker during a rolling
deploy) is not sent: the reader skips it with a warning naming the entry. On the
per-user stream every event carries its ``job_id``; it starts with the events
of the caller's queued and running jobs and follows each job submitted later,
until the client leaves.

**One reader for every socket** (:class:`EventHub`). A socket never holds a
Redis connection: one task per API process reads every followed job stream
with a single ``XREAD BLOCK`` (Redis reads many streams in one command) on a
client of its own (``EVENT_READER_CONNECTIONS`` connections), and fans the
entries out to the sockets' bounded queues. The request path's Redis pool is
therefore never drained by listeners (issue 21 item 2: 110 sockets on one job
used to hold 110 of its connections and every other request answered 503). A
user may hold ``event_sockets_per_user`` sockets at once in one process; a
process holds at most ``event_sockets_max``. Which jobs have ended without an
event (the stream expired) is asked of the database once per
:data:`POLL_SECONDS` for all followed jobs together, not per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import cast
from uuid import UUID

import msgspec
import redis.asyncio as aioredis
from litestar import WebSocket
from litestar.exceptions import HTTPException, WebSocketDisconnect
from redis.exceptions import RedisError
from redis.typing import KeyT, StreamIdT

from housify_ai.contract import JobEvent, Status, StreamKeys, SucceededEvent, end_event, known_event, stream_reply
from housify_api.auth import credentials
from housify_api.auth.credentials import WEBSOCKET_SUBPROTOCOL, Authenticator
from housify_api.auth.identity import AuthUser
from housify_api.media.consumer import RESULT_IMAGE_NS
from housify_api.media.schemas import SucceededEventOut
from housify_api.media.tables import FINAL_STATUSES, Job
from housify_common.redis import RedisClient

log = logging.getLogger("housify.media.events")

#: Longest wait of the reader's blocking read. Well under redis-py's socket timeout
#: (5 s since redis-py 8), which would end a longer block.
BLOCK_MS = 2000
#: How often the database is asked which followed jobs ended (and, for per-user streams, which
#: jobs of those users started).
POLL_SECONDS = 2.0
#: How long the ``succeeded`` event waits for the results consumer to record the picture.
RECORD_WAIT_SECONDS = 10.0
#: Redis connections of the reader's own client: the blocking read, the wake-up, spare.
EVENT_READER_CONNECTIONS = 3
#: Events waiting for one slow socket; a socket this far behind is closed (it can reconnect and replay).
QUEUE_DEPTH = 1000
#: Entries read per stream per round (a job's stream holds about 500 at most).
READ_COUNT = 500


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class TooManyStreams(Exception):
    """A subscription over a cap; ``code`` and ``str()`` are the WebSocket close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(eq=False)
class Subscription:
    """One socket's view: the events for it, in order, and what it has seen per job."""

    user_id: UUID
    #: ``None``: every job of ``user_id`` (the per-user stream); else the one job followed.
    job_id: UUID | None
    queue: asyncio.Queue[JobEvent | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_DEPTH))
    #: job id -> last entry id delivered ("0-0": nothing yet).
    last: dict[str, str] = field(default_factory=dict)
    #: jobs that have ended for this subscription (never followed again).
    ended: set[str] = field(default_factory=set)
    #: for the per-user stream: the jobs created from this time on are followed even when already ended.
    since: float = 0.0

    def push(self, event: JobEvent | None) -> bool:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True


class EventHub:
    """The process's one reader of job event streams, shared by every WebSocket (module docstring).

    Args:
        client: the Redis client the reader uses (its own pool; see :func:`build_event_hub`).
        streams: the contract's key names.
        per_user: sockets one user may hold at once in this process.
        total: sockets this process holds at most.
    """

    def __init__(self, client: RedisClient, streams: StreamKeys, *, per_user: int, total: int) -> None:
        self.client = client
        self.streams = streams
        self.per_user = per_user
        self.total = total
        self._subs: set[Subscription] = set()
        self._per_user: dict[UUID, int] = defaultdict(int)
        #: job id -> its followers and the reader's cursor.
        self._jobs: dict[str, set[Subscription]] = {}
        self._cursor: dict[str, str] = {}
        self._wake_key = f"{streams.prefix}ai:events-wake:{uuid.uuid4()}"
        self._wake_cursor = "0-0"
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    # ---- subscriptions -----------------------------------------------------------------

    @property
    def sockets(self) -> int:
        return len(self._subs)

    def open(self, user_id: UUID, job_id: UUID | None) -> Subscription:
        """A subscription for one socket (its job's stream, or every job of ``user_id``).

        Raises:
            TooManyStreams: 4429 over the per-user cap, 1013 over the process's cap.
        """
        if len(self._subs) >= self.total:
            raise TooManyStreams(1013, "too many event streams on this server; try again shortly")
        if self._per_user[user_id] >= self.per_user:
            raise TooManyStreams(
                4429, f"too many event streams: at most {self.per_user} at once per user; close one or use /jobs/events"
            )
        sub = Subscription(user_id=user_id, job_id=job_id, since=time.time())
        self._subs.add(sub)
        self._per_user[user_id] += 1
        if job_id is not None:
            self._follow(sub, str(job_id))
        self._start()
        self._changed.set()
        return sub

    def close(self, sub: Subscription) -> None:
        if sub not in self._subs:
            return
        self._subs.discard(sub)
        self._per_user[sub.user_id] -= 1
        if self._per_user[sub.user_id] <= 0:
            del self._per_user[sub.user_id]
        for job_id in list(sub.last):
            self._unfollow(sub, job_id)

    def _follow(self, sub: Subscription, job_id: str) -> None:
        if job_id in sub.last or job_id in sub.ended:
            return
        sub.last[job_id] = "0-0"
        self._jobs.setdefault(job_id, set()).add(sub)
        self._cursor[job_id] = "0-0"  # the newcomer replays from the start; the others skip what they saw

    def _unfollow(self, sub: Subscription, job_id: str) -> None:
        sub.last.pop(job_id, None)
        followers = self._jobs.get(job_id)
        if followers is not None:
            followers.discard(sub)
            if not followers:
                del self._jobs[job_id]
                self._cursor.pop(job_id, None)

    # ---- the reader ----------------------------------------------------------------------

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="media-event-hub")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for sub in list(self._subs):
            sub.push(None)
        with contextlib.suppress(Exception):
            await self.client.delete(self._wake_key)

    async def _wake(self) -> None:
        """Make a blocking read return now (a new stream to follow)."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xadd(self._wake_key, {"w": b"1"}, maxlen=1, approximate=False)
            pipe.expire(self._wake_key, 3600)
            await pipe.execute()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        failures = 0
        while self._subs:
            try:
                if self._changed.is_set():
                    self._changed.clear()
                    block: int | None = None  # read the new streams' history at once
                else:
                    block = BLOCK_MS
                await self._read(block)
                if loop.time() >= next_poll:
                    next_poll = loop.time() + POLL_SECONDS
                    await self._poll()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis or the database down: tell the sockets, keep going
                failures += 1
                log.error("job events: reader failed (%s: %s)", type(exc).__name__, exc)
                if isinstance(exc, RedisError) and failures >= 3:
                    for sub in list(self._subs):
                        sub.push(None)
                await asyncio.sleep(min(5.0, 0.2 * failures))

    async def _read(self, block: int | None) -> None:
        keys: dict[KeyT, StreamIdT] = {self.streams.events(job_id): self._cursor[job_id] for job_id in self._jobs}
        if block is not None:
            keys[self._wake_key] = self._wake_cursor
        if not keys:
            await asyncio.sleep(block / 1000 if block else 0)
            return
        waiter = asyncio.ensure_future(self.client.xread(keys, count=READ_COUNT, block=block))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            done, _ = await asyncio.wait({waiter, changed}, return_when=asyncio.FIRST_COMPLETED)
            if waiter not in done:  # a new stream while blocked: wake the read (it returns the wake entry)
                await self._wake()
            reply = stream_reply(await waiter)
        finally:
            changed.cancel()
        prefix = self.streams.events("")
        for raw_key, entries in reply:
            key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
            if key == self._wake_key:
                if entries:
                    last = entries[-1][0]
                    self._wake_cursor = last.decode() if isinstance(last, bytes) else last
                continue
            job_id = key[len(prefix) :]
            for raw_id, fields in entries:
                entry_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                if job_id in self._cursor:
                    self._cursor[job_id] = entry_id
                event = known_event(entry_id, fields)  # a type of a newer build: skipped with a log line
                if event is not None:
                    self._deliver(job_id, entry_id, event)

    def _deliver(self, job_id: str, entry_id: str, event: JobEvent) -> None:
        for sub in list(self._jobs.get(job_id, ())):
            last = sub.last.get(job_id)
            if last is None or _id_key(entry_id) <= _id_key(last):
                continue
            sub.last[job_id] = entry_id
            if not sub.push(event):
                log.warning(
                    "job events: a socket of user %s fell %d events behind; closing it", sub.user_id, QUEUE_DEPTH
                )
                self.close(sub)
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.queue.put_nowait(None)
                continue
            if event.terminal:
                sub.ended.add(job_id)
                self._unfollow(sub, job_id)

    async def _poll(self) -> None:
        """One query for the ended followed jobs (and, for per-user streams, the users' current jobs)."""
        users = {sub.user_id for sub in self._subs if sub.job_id is None}
        if users:
            since = min(sub.since for sub in self._subs if sub.job_id is None)
            rows = await Job.select(Job.id, Job.owner, Job.status, Job.created_at).where(
                Job.owner.is_in(list(users))
                & (Job.status.not_in(list(FINAL_STATUSES)) | (Job.created_at >= _aware(since)))
            )
            for sub in list(self._subs):
                if sub.job_id is not None:
                    continue
                for row in rows:
                    if row["owner"] == sub.user_id and (
                        row["status"] not in FINAL_STATUSES or row["created_at"].timestamp() >= sub.since
                    ):
                        self._follow(sub, str(row["id"]))
        if not self._jobs:
            return
        ended = await Job.select(Job.id, Job.status, Job.error).where(
            Job.id.is_in([UUID(job_id) for job_id in self._jobs]) & Job.status.is_in(list(FINAL_STATUSES))
        )
        if not ended:
            return
        await self._read(None)  # the terminal event is written before the job's row: deliver it first
        for row in ended:
            job_id = str(row["id"])
            for sub in list(self._jobs.get(job_id, ())):
                # finished without (or after the expiry of) its event stream: say how it ended
                sub.push(end_event(job_id, cast("Status", row["status"]), message=row["error"] or ""))
                sub.ended.add(job_id)
                self._unfollow(sub, job_id)


def _aware(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def build_event_hub(redis_url: str, client: RedisClient, streams: StreamKeys, *, per_user: int, total: int) -> EventHub:
    """The hub on a Redis client of its own (``redis_url``; the shared stand-in ``client`` when embedded)."""
    if redis_url:
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_url, max_connections=EVENT_READER_CONNECTIONS, timeout=10, health_check_interval=30
        )
        client = aioredis.Redis(connection_pool=pool)
    return EventHub(client, streams, per_user=per_user, total=total)


# ---- the WebSocket side ----------------------------------------------------------------------


async def _authenticate(socket: WebSocket, authenticator: Authenticator) -> AuthUser | None:
    """Accept the handshake, then the caller; ``None`` once the socket is closed with the reason."""
    credential, as_subprotocol = credentials.from_websocket(socket)
    await socket.accept(subprotocols=WEBSOCKET_SUBPROTOCOL if as_subprotocol else None)
    try:
        user = None if credential is None else await authenticator.user(credential)
    except HTTPException as exc:  # NotAuthorizedException and friends: the detail is safe to show
        await socket.close(code=4401, reason=f"authentication failed: {exc.detail}"[:120])
        return None
    except RedisError as exc:  # the revocation check needs Redis
        log.error("job events: Redis unavailable during authentication: %s", exc)
        await socket.close(code=1011, reason="authentication unavailable (Redis down); try again shortly")
        return None
    if user is None:
        await socket.close(code=4401, reason="authentication required: token in Sec-WebSocket-Protocol")
    return user


async def serve(socket: WebSocket, job_id: UUID, hub: EventHub, authenticator: Authenticator) -> None:
    """``/jobs/{id}/events``: authenticate, check ownership, then replay and stream the job's events until it ends."""
    user = await _authenticate(socket, authenticator)
    if user is None:
        return
    job = await Job.select(Job.owner).where(Job.id == job_id).first()
    if job is None or not user.may_manage(job["owner"]):
        await socket.close(code=4404, reason=f"job {job_id} not found")
        return
    await _stream(socket, hub, user, job_id)


async def serve_user(socket: WebSocket, hub: EventHub, authenticator: Authenticator) -> None:
    """``/jobs/events``: the events of every queued, running or newly submitted job of the caller."""
    user = await _authenticate(socket, authenticator)
    if user is not None:
        await _stream(socket, hub, user, None)


async def _stream(socket: WebSocket, hub: EventHub, user: AuthUser, job_id: UUID | None) -> None:
    try:
        sub = hub.open(user.id, job_id)
    except TooManyStreams as exc:
        await socket.close(code=exc.code, reason=str(exc)[:120])
        return
    gone = asyncio.Event()
    listener = asyncio.create_task(_until_disconnect(socket, gone))
    try:
        while True:
            event = await _next(sub, gone)
            if event is None:
                if not gone.is_set():
                    await socket.close(code=1011, reason="event stream unavailable; try GET /jobs/{id}")
                return
            await socket.send_text(await _message(event))
            if job_id is not None and event.terminal:
                await socket.close(code=1000, reason=f"job {event.type}")
                return
    except WebSocketDisconnect:
        return
    finally:
        hub.close(sub)
        gone.set()
        listener.cancel()


async def _next(sub: Subscription, gone: asyncio.Event) -> JobEvent | None:
    """The subscription's next event; ``None`` when the client left or the hub gave up."""
    getter = asyncio.ensure_future(sub.queue.get())
    leaving = asyncio.ensure_future(gone.wait())
    try:
        done, _ = await asyncio.wait({getter, leaving}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        leaving.cancel()
    if getter in done:
        return getter.result()
    getter.cancel()
    return None


async def _until_disconnect(socket: WebSocket, gone: asyncio.Event) -> None:
    """Read (and ignore) client messages so a client that leaves is noticed while its jobs are quiet."""
    try:
        while not gone.is_set():
            await socket.receive_data(mode="text")
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        gone.set()


async def _message(event: JobEvent) -> str:
    """The event's JSON (``schemas.JobEventOut``): ``succeeded`` gains the recorded picture's ``image_id``."""
    if isinstance(event, SucceededEvent):
        fields = msgspec.structs.asdict(event)
        event = SucceededEventOut(**fields, image_id=await _recorded_image(UUID(event.job_id)))
    return msgspec.json.encode(event).decode()


async def _recorded_image(job_id: UUID) -> uuid.UUID | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECORD_WAIT_SECONDS
    while True:
        row = await Job.select(Job.image).where(Job.id == job_id).first()
        if row and row["image"] is not None:
            return row["image"]
        if loop.time() > deadline:
            return uuid.uuid5(RESULT_IMAGE_NS, str(job_id))  # the id it will have
        await asyncio.sleep(0.05)
