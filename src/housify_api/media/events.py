"""``WebSocket /jobs/{id}/events``: a job's progress, replayed then live.

Authentication (browsers cannot set ``Authorization`` on a WebSocket): the
credential is read by :func:`housify_api.auth.credentials.from_websocket` (the
subprotocol pair ``Sec-WebSocket-Protocol: bearer, <token>``, answered with
``bearer``; ``?token=``; or the usual headers). Only the job's owner (or an
admin) may listen.

The server accepts the handshake first and then closes with a code and reason,
because a refused handshake reaches the client as a bare HTTP 403:

=====  =====================================================
1000   the job ended (after its terminal event)
4401   no token, or a bad / expired / revoked one
4403   not the owner of the job
4404   no such job
1011   event stream unavailable (Redis down)
=====  =====================================================

Each message is one ``JobEvent`` of ``housify_ai.contract`` as JSON; the
``succeeded`` event is sent once the result is recorded, with the new
picture's ``image_id`` added, so a client can fetch it at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, cast
from uuid import UUID

import msgspec
from litestar import WebSocket
from litestar.exceptions import HTTPException, WebSocketDisconnect
from redis.exceptions import RedisError

from housify_ai.contract import TERMINAL_EVENTS, JobEvent, read_events
from housify_api.auth import credentials
from housify_api.auth.credentials import WEBSOCKET_SUBPROTOCOL, Authenticator
from housify_api.media.consumer import RESULT_IMAGE_NS
from housify_api.media.queue import Queue
from housify_api.media.tables import FINAL_STATUSES, Job

log = logging.getLogger("housify.media.events")

#: Longest wait of one blocking read; between reads the job's row is checked
#: (the event stream expires 24 h after a job's last event). Well under redis-py's
#: default socket timeout (5 s since redis-py 8), which would end a longer block.
BLOCK_MS = 2000
#: How long the ``succeeded`` event waits for the results consumer to record the picture.
RECORD_WAIT_SECONDS = 10.0


async def serve(socket: WebSocket, job_id: UUID, queue: Queue, authenticator: Authenticator) -> None:
    """Authenticate, check ownership, then replay and stream the job's events until it ends."""
    credential, as_subprotocol = credentials.from_websocket(socket)
    await socket.accept(subprotocols=WEBSOCKET_SUBPROTOCOL if as_subprotocol else None)
    try:
        user = None if credential is None else await authenticator.user(credential)
    except HTTPException as exc:  # NotAuthorizedException and friends: the detail is safe to show
        await socket.close(code=4401, reason=f"authentication failed: {exc.detail}"[:120])
        return
    except RedisError as exc:  # the revocation check needs Redis
        log.error("job events %s: Redis unavailable during authentication: %s", job_id, exc)
        await socket.close(code=1011, reason="authentication unavailable (Redis down); try again shortly")
        return
    if user is None:
        await socket.close(code=4401, reason="authentication required: token in Sec-WebSocket-Protocol or ?token=")
        return
    job = await Job.select(Job.owner, Job.status).where(Job.id == job_id).first()
    if job is None:
        await socket.close(code=4404, reason=f"job {job_id} not found")
        return
    if not user.may_manage(job["owner"]):
        await socket.close(code=4403, reason="only the owner of this job may listen to its events")
        return
    gone = asyncio.Event()
    listener = asyncio.create_task(_until_disconnect(socket, gone))
    try:
        await _pump(socket, job_id, queue, gone)
    except WebSocketDisconnect:
        return
    except RedisError as exc:
        log.error("job events %s: Redis unavailable: %s", job_id, exc)
        await socket.close(code=1011, reason="event stream unavailable; try GET /jobs/{id}")
    finally:
        gone.set()
        listener.cancel()


async def _until_disconnect(socket: WebSocket, gone: asyncio.Event) -> None:
    """Read (and ignore) client messages so a client that leaves is noticed while its job is quiet."""
    try:
        while not gone.is_set():
            await socket.receive_data(mode="text")
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        gone.set()


async def _pump(socket: WebSocket, job_id: UUID, queue: Queue, gone: asyncio.Event) -> None:
    last = "0-0"
    block: int | None = None  # the first read replays what is there without waiting
    while not gone.is_set():
        batch = await read_events(queue.client, queue.streams, str(job_id), after=last, block_ms=block)
        block = BLOCK_MS
        for entry_id, event in batch:
            last = entry_id
            await socket.send_text(await _message(event, job_id))
            if event.type in TERMINAL_EVENTS:
                await socket.close(code=1000, reason=f"job {event.type}")
                return
        if not batch:
            row = await Job.select(Job.status, Job.error).where(Job.id == job_id).first()
            if row is None or row["status"] in FINAL_STATUSES:
                # finished without (or after the expiry of) its event stream: say how it ended
                status = row["status"] if row else "cancelled"
                event = JobEvent(job_id=str(job_id), type=cast("Any", status), message=(row or {}).get("error") or "")
                await socket.send_text(await _message(event, job_id))
                await socket.close(code=1000, reason=f"job {status}")
                return


async def _message(event: JobEvent, job_id: UUID) -> str:
    body = msgspec.to_builtins(event)
    if event.type == "succeeded":
        body["image_id"] = str(await _recorded_image(job_id))
    return msgspec.json.encode(body).decode()


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
