"""Issue 21 item 2 and issue 18's queue screen: job-event WebSockets share one Redis reader, a user's sockets
are capped, the request path keeps its connections; ``/jobs/events`` follows all of a user's jobs.

The worker is played through the contract (as in ``test_jobs_api``). The first test fails on 02e5a16:
there each socket held one of the request pool's 100 connections and the 101st request answered 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from apikit import Accounts
from housify_ai.contract import EVENT_FIELD, CancelledEvent, ProgressEvent, StartedEvent, encode
from testkit import AsgiServer

PROMPT = {"prompt": "a bright scandinavian living room, oak floor", "width": 64, "height": 64, "steps": 4}


def _in_use(server: AsgiServer) -> int:
    """Connections the request path's Redis pool has handed out right now."""
    pool = server.app.state.services.redis.connection_pool
    return len(getattr(pool, "_in_use_connections", ()))


async def _listen(url: str, token: str, stack: contextlib.AsyncExitStack) -> ClientConnection:
    return await stack.enter_async_context(connect(url, subprotocols=["bearer", token], open_timeout=30))


async def test_event_sockets_never_starve_the_request_path(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    users = [await accounts.user() for _ in range(14)]
    jobs = [(await http.post("/jobs", json=PROMPT, headers=u.headers)).json()["id"] for u in users]
    bystander = await accounts.user()
    async with contextlib.AsyncExitStack() as stack:
        sockets = await asyncio.gather(
            *(
                _listen(f"{media_server.ws_url}/jobs/{job}/events", user.token, stack)
                for user, job in zip(users, jobs, strict=True)
                for _ in range(8)
            )
        )
        firsts = await asyncio.gather(*(asyncio.wait_for(ws.recv(), 30) for ws in sockets))
        assert all(json.loads(m)["type"] == "queued" for m in firsts)  # every socket replayed its job
        held = _in_use(media_server)
        started = time.perf_counter()
        answers = await asyncio.gather(*(http.get("/users/me", headers=bystander.headers) for _ in range(50)))
        took = time.perf_counter() - started
        print(
            f"\n112 event sockets open: request pool in use {held}; 50 x GET /users/me: "
            f"{sorted({a.status_code for a in answers})} in {took:.2f} s"
        )
        assert [a.status_code for a in answers] == [200] * 50
        assert held < 10, held
        assert media_server.app.state.services.media.events.sockets == 112

        # A live event reaches all eight sockets of one job from the one reader.
        client, keys = media_server.app.state.services.redis, media_server.app.state.services.media.queue.streams
        await client.xadd(keys.events(jobs[0]), {EVENT_FIELD: encode(StartedEvent(job_id=jobs[0], total=4))})
        live = await asyncio.gather(*(asyncio.wait_for(ws.recv(), 10) for ws in sockets[:8]))
        assert {json.loads(m)["type"] for m in live} == {"started"}


async def test_a_users_sockets_are_capped(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    user = await accounts.user()
    job = (await http.post("/jobs", json=PROMPT, headers=user.headers)).json()["id"]
    url = f"{media_server.ws_url}/jobs/{job}/events"
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(8):
            await (await _listen(url, user.token, stack)).recv()
        async with connect(url, subprotocols=["bearer", user.token]) as ninth:
            with contextlib.suppress(ConnectionClosed):
                await asyncio.wait_for(ninth.recv(), 10)
            assert ninth.close_code == 4429 and "at most 8" in ninth.close_reason
    # closing frees the slots
    async with connect(url, subprotocols=["bearer", user.token]) as again:
        assert json.loads(await again.recv())["type"] == "queued"


async def test_one_stream_per_user_follows_every_job(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    """Issue 18 (queue screen): ``/jobs/events`` replays the running jobs and picks up ones submitted later."""
    user, other = await accounts.user(), await accounts.user()
    first = (await http.post("/jobs", json=PROMPT, headers=user.headers)).json()["id"]
    (await http.post("/jobs", json=PROMPT, headers=other.headers)).json()
    client, keys = media_server.app.state.services.redis, media_server.app.state.services.media.queue.streams
    async with connect(f"{media_server.ws_url}/jobs/events", subprotocols=["bearer", user.token]) as ws:
        assert ws.subprotocol == "bearer"
        seen = [json.loads(await asyncio.wait_for(ws.recv(), 10))]
        assert (seen[0]["job_id"], seen[0]["type"]) == (first, "queued")
        second = (await http.post("/jobs", json=PROMPT, headers=user.headers)).json()["id"]
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert (event["job_id"], event["type"]) == (second, "queued")
        await client.xadd(keys.events(first), {EVENT_FIELD: encode(CancelledEvent(job_id=first))})
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert (event["job_id"], event["type"]) == (first, "cancelled")
        cancelled = await http.delete(f"/jobs/{second}", headers=user.headers)
        assert cancelled.status_code == 200
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert (event["job_id"], event["type"]) == (second, "cancelled")  # the socket stays open for more
    async with connect(f"{media_server.ws_url}/jobs/events") as anonymous:
        with contextlib.suppress(ConnectionClosed):
            await anonymous.recv()
        assert anonymous.close_code == 4401


async def test_an_event_of_an_unknown_type_is_skipped_with_a_log_line(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 20: a type this build does not know (a newer worker's, mid-deploy) is not sent and does not end
    the stream; the next event arrives with only its own fields, and ``GET /jobs/{id}`` reads past it."""
    user = await accounts.user()
    job = (await http.post("/jobs", json=PROMPT, headers=user.headers)).json()["id"]
    client, keys = media_server.app.state.services.redis, media_server.app.state.services.media.queue.streams
    async with connect(f"{media_server.ws_url}/jobs/{job}/events", subprotocols=["bearer", user.token]) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "queued"
        with caplog.at_level(logging.WARNING, logger="housify_ai.contract"):
            await client.xadd(keys.events(job), {EVENT_FIELD: encode(StartedEvent(job_id=job, total=4, attempt=1))})
            await client.xadd(keys.events(job), {EVENT_FIELD: b'{"v":2,"job_id":"%s","type":"paused"}' % job.encode()})
            await client.xadd(keys.events(job), {EVENT_FIELD: encode(ProgressEvent(job_id=job, step=1, total=4))})
            started = json.loads(await asyncio.wait_for(ws.recv(), 10))
            progress = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert started["type"] == "started" and set(progress) == {
                "v",
                "type",
                "job_id",
                "at",
                "step",
                "total",
                "attempt",
            }
            assert (progress["type"], progress["step"]) == ("progress", 1)
            await client.xadd(keys.events(job), {EVENT_FIELD: b'{"v":2,"job_id":"%s","type":"paused"}' % job.encode()})
            shown = (await http.get(f"/jobs/{job}", headers=user.headers)).json()
        assert (shown["status"], shown["progress"]) == ("running", {"step": 1, "total": 4})
        assert "cannot read" in caplog.text and "'paused'" in caplog.text
