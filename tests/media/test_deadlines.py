"""A job no AI worker starts within the queue bound fails with ``expired: ...`` (its terminal event
on the stream, the row failed by the results consumer) and no longer counts against the hour; a job
that has started is left to its worker (whose deadline ends it, ``expired="run"``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import httpx

from apikit import Accounts
from housify_ai.contract import EVENT_FIELD, JobResult, StartedEvent, encode, read_events
from housify_api.media.deadlines import expire_queued, uncount
from housify_api.media.tables import Job
from testkit import AsgiServer

SMALL = {"prompt": "a porch", "width": 64, "height": 64, "steps": 2}


async def until_final(http: httpx.AsyncClient, user, job_id: str) -> dict:  # noqa: ANN001
    for _ in range(200):
        job = (await http.get(f"/jobs/{job_id}", headers=user.headers)).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never ended: {job}")


async def test_a_job_queued_too_long_expires_and_is_uncounted(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    queue = media_server.app.state.services.media.queue
    user = await accounts.user()
    waiting, running = [(await http.post("/jobs", json=SMALL, headers=user.headers)).json()["id"] for _ in range(2)]
    started = StartedEvent(job_id=running, total=2, at=time.time())
    await queue.client.xadd(queue.streams.events(running), {EVENT_FIELD: encode(started)})
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await Job.update({Job.created_at: long_ago}).where(Job.id.is_in([waiting, running]))
    assert (await http.get("/users/me/quota", headers=user.headers)).json()["used"] == 2

    assert await expire_queued(queue, 1800) == [waiting]
    assert await expire_queued(queue, 1800) == []  # once
    job = await until_final(http, user, waiting)
    assert job["status"] == "failed"
    assert job["error"] == (
        "expired: no AI worker started this job within 30 min; it is not counted against your hourly limit"
    )
    events = [e for _id, e in await read_events(queue.client, queue.streams, waiting)]
    assert [e.type for e in events] == ["queued", "failed"] and events[-1].message == job["error"]
    quota = (await http.get("/users/me/quota", headers=user.headers)).json()
    assert (quota["used"], quota["remaining"]) == (1, 5)  # the running one still counts
    assert (await http.get(f"/jobs/{running}", headers=user.headers)).json()["status"] == "running"

    # A worker's "ran past its deadline" result is uncounted the same way.
    row = await Job.select().where(Job.id == running).first()
    await uncount(queue, row, JobResult(job_id=running, status="failed", expired="run"))
    assert (await http.get("/users/me/quota", headers=user.headers)).json()["used"] == 0
