"""Jobs without an AI worker: validation, limits, queueing, cancellation, events and results.

The AI side is played by the test through the contract (``housify_ai.contract``):
it appends events to a job's stream and publishes ``JobResult`` entries, as
workers do, so the API's WebSocket and results consumer are exercised for real.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from apikit import Accounts, picture, upload
from housify_ai.contract import (
    EVENT_FIELD,
    RESULT_FIELD,
    JobResult,
    ProgressEvent,
    StartedEvent,
    StreamKeys,
    SucceededEvent,
    encode,
)
from housify_common.imaging import encode_png, make_thumbnail
from testkit import AsgiServer

PROMPT = {"prompt": "a bright scandinavian living room, oak floor", "width": 64, "height": 64, "steps": 4}


def streams(server: AsgiServer) -> StreamKeys:
    return server.app.state.services.media.queue.streams


async def submit(http: httpx.AsyncClient, user, **body) -> httpx.Response:  # noqa: ANN001
    return await http.post("/jobs", json={**PROMPT, **body}, headers=user.headers)


async def test_job_is_queued_and_says_no_worker(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    user = await accounts.user()
    response = await submit(http, user)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/jobs/{job['id']}"
    assert response.headers["ratelimit-limit"] == "6" and response.headers["ratelimit-remaining"] == "5"
    assert (job["status"], job["task"], job["level"], job["watermark"]) == ("queued", "text2img", "Free-Tier", True)
    assert job["params"]["prompt"] == PROMPT["prompt"]
    read = (await http.get(f"/jobs/{job['id']}", headers=user.headers)).json()
    assert read["status"] == "queued"
    assert "no AI worker is running" in read["detail"]
    # not lost: the request sits in the level's stream for the workers' group
    client = media_server.app.state.services.redis
    entries = await client.xrange(streams(media_server).jobs("Free-Tier"))
    assert any(json.loads(fields[b"job"])["job_id"] == job["id"] for _, fields in entries)
    listed = (await http.get("/jobs", headers=user.headers)).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"width": 100}, 400, "width"),
        ({"steps": 0}, 400, "steps"),
        ({"prompt": ""}, 422, "prompt: required"),
        ({"prompt": "   "}, 422, "prompt: required"),
        ({"prompt": "x" * 2001}, 400, "prompt"),
        ({"task": "img2img"}, 422, "source_image_id: required for task img2img"),
        ({"mask_image_id": str(uuid.uuid4())}, 422, "mask_image_id: task text2img takes no mask image"),
        ({"strength": 0.5}, 422, "strength: task text2img takes no strength"),
        ({"task": "paint"}, 400, "task"),
        ({"guidance_scale": 31}, 400, "guidance_scale"),
        ({"source_image_id": "not-a-uuid"}, 400, "source_image_id"),
    ],
)
async def test_invalid_jobs_are_refused(
    http: httpx.AsyncClient, accounts: Accounts, body: dict, status: int, fragment: str
) -> None:
    user = await accounts.user()
    response = await submit(http, user, **body)
    assert response.status_code == status, response.text
    assert fragment in response.text


async def test_source_and_mask_rules(http: httpx.AsyncClient, accounts: Accounts) -> None:
    owner, other = await accounts.user(), await accounts.user()
    source = (await upload(http, owner, picture(64, 64))).json()["id"]
    small_mask = (await upload(http, owner, picture(32, 32))).json()["id"]
    foreign = (await upload(http, other, picture(64, 64), public=True)).json()["id"]

    stolen = await submit(http, owner, task="img2img", source_image_id=foreign)
    assert stolen.status_code == 403 and "belongs to another user" in stolen.json()["detail"]
    unknown = await submit(http, owner, task="img2img", source_image_id=str(uuid.uuid4()))
    assert unknown.status_code == 404 and "source_image_id" in unknown.json()["detail"]
    mismatch = await submit(http, owner, task="inpaint", source_image_id=source, mask_image_id=small_mask)
    assert mismatch.status_code == 422 and "mask is 32x32" in mismatch.json()["detail"]
    no_mask = await submit(http, owner, task="inpaint", source_image_id=source)
    assert no_mask.status_code == 422 and "mask_image_id: required" in no_mask.json()["detail"]
    ok = await submit(http, owner, task="img2img", source_image_id=source, strength=0.5)
    assert ok.status_code == 202 and ok.json()["params"]["source_image_id"] == source


async def test_service_access_rights(http: httpx.AsyncClient, accounts: Accounts) -> None:
    limited = await accounts.user(services="text2img")
    assert (await submit(http, limited)).status_code == 202
    source = (await upload(http, limited, picture(64, 64))).json()["id"]
    refused = await submit(http, limited, task="img2img", source_image_id=source)
    assert refused.status_code == 403 and "'img2img'" in refused.json()["detail"]
    assist = await http.post("/prompts/assist", json={"idea": "cosy attic"}, headers=limited.headers)
    assert assist.status_code == 403


@pytest.mark.parametrize(("level", "limit"), [("Free-Tier", 6), ("Pro-Tier", 60)])
async def test_requests_hour_holds_under_concurrency(
    http: httpx.AsyncClient, accounts: Accounts, level: str, limit: int
) -> None:
    user = await accounts.user(level=level)
    responses = await asyncio.gather(*(submit(http, user) for _ in range(limit + 4)))
    codes = [r.status_code for r in responses]
    assert codes.count(202) == limit and codes.count(429) == 4, codes
    refused = next(r for r in responses if r.status_code == 429)
    assert 3500 <= int(refused.headers["retry-after"]) <= 3600
    assert refused.headers["ratelimit-remaining"] == "0"
    assert f"allows {limit} jobs per hour" in refused.json()["detail"]
    accepted = [r for r in responses if r.status_code == 202]
    assert sorted(int(r.headers["ratelimit-remaining"]) for r in accepted) == list(range(limit))
    total = (await http.get("/jobs", params={"limit": 100}, headers=user.headers)).json()["items"]
    assert len(total) == limit  # refused requests left no job behind


async def test_cancel(http: httpx.AsyncClient, accounts: Accounts) -> None:
    user, other = await accounts.user(), await accounts.user()
    job = (await submit(http, user)).json()
    assert (await http.delete(f"/jobs/{job['id']}", headers=other.headers)).status_code == 404
    cancelled = await http.delete(f"/jobs/{job['id']}", headers=user.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await http.delete(f"/jobs/{job['id']}", headers=user.headers)
    assert again.status_code == 409 and "already finished (cancelled)" in again.json()["detail"]
    assert (await http.delete(f"/jobs/{uuid.uuid4()}", headers=user.headers)).status_code == 404
    assert (await http.get(f"/jobs/{uuid.uuid4()}", headers=user.headers)).status_code == 404
    assert (await http.get(f"/jobs/{job['id']}", headers=other.headers)).status_code == 404
    assert (await http.get(f"/jobs/{job['id']}")).status_code == 401


async def _play_worker(server: AsgiServer, job_id: str, *, steps: int = 3) -> JobResult:
    """What a worker does for a job: events, the picture in storage, the result (contract §5)."""
    client, keys = server.app.state.services.redis, streams(server)
    store = server.app.state.services.media.store
    started = time.time()
    await client.xadd(keys.events(job_id), {EVENT_FIELD: encode(StartedEvent(job_id=job_id, total=steps, at=started))})
    for step in range(1, steps + 1):
        await asyncio.sleep(0.05)
        event = ProgressEvent(job_id=job_id, step=step, total=steps, at=time.time())
        await client.xadd(keys.events(job_id), {EVENT_FIELD: encode(event)})
    from PIL import Image

    image = Image.new("RGB", (64, 64), (10, 200, 10))
    await store.put(f"images/{job_id}.png", encode_png(image))
    await store.put(f"thumbs/{job_id}.webp", make_thumbnail(image))
    result = JobResult(
        job_id=job_id,
        status="succeeded",
        image_key=f"images/{job_id}.png",
        thumb_key=f"thumbs/{job_id}.webp",
        width=64,
        height=64,
        seed=7,
        started_at=started,
        finished_at=time.time(),
        seconds=0.2,
    )
    await client.xadd(keys.results(), {RESULT_FIELD: encode(result)})
    await client.xadd(
        keys.events(job_id),
        {EVENT_FIELD: encode(SucceededEvent(job_id=job_id, image_key=result.image_key, seed=7))},
    )
    return result


async def test_events_websocket_replay_live_and_result_recorded(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    from housify_api.media.quota import used_bytes
    from housify_api.tables import ServiceCall

    user = await accounts.user()
    job = (await submit(http, user, title="green room", public=True)).json()
    url = f"{media_server.ws_url}/jobs/{job['id']}/events"
    async with connect(url, subprotocols=["bearer", user.token]) as ws:
        assert ws.subprotocol == "bearer"
        first = json.loads(await ws.recv())
        assert first["type"] == "queued"  # replayed: it was appended at submission
        worker = asyncio.create_task(_play_worker(media_server, job["id"]))
        received = [first]
        with pytest.raises(ConnectionClosed):
            while True:
                received.append(json.loads(await ws.recv()))
        await worker
        assert ws.close_code == 1000 and ws.close_reason == "job succeeded"
    types = [e["type"] for e in received]
    assert types == ["queued", "started", "progress", "progress", "progress", "succeeded"]
    assert [e["step"] for e in received if e["type"] == "progress"] == [1, 2, 3]
    image_id = received[-1]["image_id"]

    done = (await http.get(f"/jobs/{job['id']}", headers=user.headers)).json()
    assert done["status"] == "succeeded" and done["image_id"] == image_id
    assert done["params"]["seed"] == 7  # the seed the worker used (none was asked for)
    image = (await http.get(f"/images/{image_id}", headers=user.headers)).json()
    assert (image["kind"], image["title"], image["public"], image["width"]) == ("generated", "green room", True, 64)
    assert (await http.get(image["url"])).headers["content-type"] == "image/png"
    generated = (await http.get("/images", params={"kind": "generated"}, headers=user.headers)).json()["items"]
    assert [i["id"] for i in generated] == [image_id]
    assert await used_bytes(user.id) == image["size_bytes"] > 0
    calls = await ServiceCall.select().where(ServiceCall.user == user.id)
    assert [(c["service"], c["success"]) for c in calls] == [("text2img", True)]
    assert calls[0]["duration_ms"] is not None

    # late listener: replays everything and closes
    async with connect(url, subprotocols=["bearer", user.token]) as late:
        replay = []
        with pytest.raises(ConnectionClosed):
            while True:
                replay.append(json.loads(await late.recv()))
    assert [e["type"] for e in replay] == types


async def test_results_are_recorded_once(http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer) -> None:
    from housify_api.media.quota import used_bytes
    from housify_api.media.tables import Image
    from housify_api.tables import ServiceCall

    user = await accounts.user()
    job = (await submit(http, user)).json()
    consumer = media_server.app.state.services.media.consumer
    before = consumer.handled
    result = await _play_worker(media_server, job["id"])
    client, keys = media_server.app.state.services.redis, streams(media_server)
    await client.xadd(keys.results(), {RESULT_FIELD: encode(result)})  # a duplicate delivery
    for _ in range(500):
        if consumer.handled >= before + 2:
            break
        await asyncio.sleep(0.01)
    assert consumer.handled >= before + 2
    assert await Image.count().where(Image.owner == user.id) == 1
    size = (await Image.select(Image.size_bytes).where(Image.owner == user.id).first())["size_bytes"]
    assert await used_bytes(user.id) == size
    assert await ServiceCall.count().where(ServiceCall.user == user.id) == 1


async def test_failed_result_is_recorded(http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer) -> None:
    user = await accounts.user()
    job = (await submit(http, user)).json()
    client, keys = media_server.app.state.services.redis, streams(media_server)
    failed = JobResult(
        job_id=job["id"], status="failed", error="CUDA out of memory", started_at=time.time(), finished_at=time.time()
    )
    await client.xadd(keys.results(), {RESULT_FIELD: encode(failed)})
    for _ in range(200):
        read = (await http.get(f"/jobs/{job['id']}", headers=user.headers)).json()
        if read["status"] == "failed":
            break
        await asyncio.sleep(0.02)
    assert read["status"] == "failed" and read["error"] == "CUDA out of memory" and read["image_id"] is None


async def _closed_with(url: str, **kwargs) -> tuple[int, str]:  # noqa: ANN003
    async with connect(url, **kwargs) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        return ws.close_code, ws.close_reason


async def test_events_websocket_refusals(http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer) -> None:
    owner, other, admin = await accounts.user(), await accounts.user(), await accounts.user(role="admin")
    job = (await submit(http, owner)).json()
    url = f"{media_server.ws_url}/jobs/{job['id']}/events"
    code, reason = await _closed_with(url)
    assert code == 4401 and "authentication required" in reason
    code, reason = await _closed_with(url, subprotocols=["bearer", "not.a.jwt"])
    assert code == 4401 and "authentication failed" in reason
    code, reason = await _closed_with(url, subprotocols=["bearer", other.token])
    assert code == 4404 and "not found" in reason  # issue 21 item 16: the same answer as for no such job
    code, reason = await _closed_with(
        f"{media_server.ws_url}/jobs/{uuid.uuid4()}/events", subprotocols=["bearer", owner.token]
    )
    assert code == 4404
    code, reason = await _closed_with(f"{url}?token={owner.token}")  # issue 21 item 16: never from the URL
    assert code == 4401
    async with connect(url, subprotocols=["bearer", admin.token]) as ws:  # admins may listen
        assert json.loads(await ws.recv())["type"] == "queued"


async def test_prompt_assist_is_503_when_ai_server_is_down(http: httpx.AsyncClient, accounts: Accounts) -> None:
    from housify_api.tables import ServiceCall

    user = await accounts.user()
    response = await http.post("/prompts/assist", json={"idea": "a calm bedroom"}, headers=user.headers)
    assert response.status_code == 503
    assert "cannot reach the AI server" in response.json()["detail"]
    calls = await ServiceCall.select().where(ServiceCall.user == user.id)
    assert [(c["service"], c["success"]) for c in calls] == [("prompt_assist", False)]
    bad = await http.post("/prompts/assist", json={"idea": ""}, headers=user.headers)
    assert bad.status_code == 400


async def test_level_weights_are_published_for_the_workers(media_server: AsgiServer) -> None:
    from housify_ai.contract import read_levels

    levels = await read_levels(media_server.app.state.services.redis, streams(media_server))
    assert levels["Free-Tier"] == 2.5 and levels["Pro-Tier"] == 5.0


async def test_running_job_reports_progress(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    user = await accounts.user()
    job = (await submit(http, user)).json()
    client, keys = media_server.app.state.services.redis, streams(media_server)
    for event in (
        StartedEvent(job_id=job["id"], total=4),
        ProgressEvent(job_id=job["id"], step=2, total=4),
    ):
        await client.xadd(keys.events(job["id"]), {EVENT_FIELD: encode(event)})
    read = (await http.get(f"/jobs/{job['id']}", headers=user.headers)).json()
    assert read["status"] == "running" and read["progress"] == {"step": 2, "total": 4}
    cancelling = await http.delete(f"/jobs/{job['id']}", headers=user.headers)
    assert cancelling.status_code == 200 and cancelling.json()["status"] == "running"  # the worker confirms later
    assert await client.exists(keys.cancel(job["id"]))


async def test_results_held_by_a_dead_api_instance_are_taken_over(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    """An API instance that read a result and died before XACK: another instance claims it (XAUTOCLAIM)."""
    from housify_ai.contract import RESULTS_GROUP

    user = await accounts.user()
    job = (await submit(http, user)).json()
    client, keys = media_server.app.state.services.redis, streams(media_server)
    result = JobResult(
        job_id=job["id"], status="failed", error="worker lost its GPU", started_at=time.time(), finished_at=time.time()
    )
    async with client.pipeline(transaction=True) as pipe:  # the dead instance reads it before anyone else can
        pipe.xadd(keys.results(), {RESULT_FIELD: encode(result)})
        pipe.xreadgroup(RESULTS_GROUP, "dead-api-instance", {keys.results(): ">"}, count=1)
        entry_id, reply = await pipe.execute()
    assert reply[0][1][0][0] == entry_id
    await asyncio.sleep(0.3)
    assert (await http.get(f"/jobs/{job['id']}", headers=user.headers)).json()["status"] == "queued"
    # it has been pending for two minutes as far as Redis knows
    await client.xclaim(keys.results(), RESULTS_GROUP, "dead-api-instance", 0, [entry_id], idle=120_000)
    for _ in range(300):
        read = (await http.get(f"/jobs/{job['id']}", headers=user.headers)).json()
        if read["status"] == "failed":
            break
        await asyncio.sleep(0.02)
    assert read["status"] == "failed" and read["error"] == "worker lost its GPU"
    pending = await client.xpending_range(keys.results(), RESULTS_GROUP, min=entry_id, max=entry_id, count=1)
    assert pending == []  # acknowledged by the instance that took it over


async def test_a_result_that_cannot_be_recorded_does_not_block_the_others(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    user = await accounts.user()
    poison_job, good_job = (await submit(http, user)).json(), (await submit(http, user)).json()
    client, keys = media_server.app.state.services.redis, streams(media_server)
    await media_server.app.state.services.media.store.put(f"images/{poison_job['id']}.png", b"x")
    poison = JobResult(
        job_id=poison_job["id"],
        status="succeeded",
        image_key=f"images/{poison_job['id']}.png",
        thumb_key=f"images/{poison_job['id']}.png",
        width=2**40,
        height=64,
    )  # out of int4 range: DataError
    good = JobResult(job_id=good_job["id"], status="failed", error="model folder unreadable")
    await client.xadd(keys.results(), {RESULT_FIELD: encode(poison)})
    await client.xadd(keys.results(), {RESULT_FIELD: encode(good)})
    for _ in range(300):  # five attempts with back-off (0.5 + 1 + 2 + 4 s), then the next entry
        if (await http.get(f"/jobs/{good_job['id']}", headers=user.headers)).json()["status"] == "failed":
            break
        await asyncio.sleep(0.1)
    assert (await http.get(f"/jobs/{good_job['id']}", headers=user.headers)).json()["status"] == "failed"
    assert (await http.get(f"/jobs/{poison_job['id']}", headers=user.headers)).json()["image_id"] is None
