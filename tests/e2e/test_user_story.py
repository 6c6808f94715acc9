"""The user story of issue 4 against real processes (see conftest): describe or upload a room,
watch it being drawn, keep it, rate it, share it — and what happens when the AI side is down."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import httpx
import pytest
from PIL import Image
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from apikit import Accounts, User, picture, upload
from testkit import AsgiServer

from ._ai import WorkerProcess

pytestmark = pytest.mark.slow

SMALL = {"width": 64, "height": 64, "steps": 4}


async def events_of(server: AsgiServer, job_id: str, user: User, *, until: str | None = None) -> list[dict[str, Any]]:
    """All events of a job from its WebSocket (token as subprotocol), up to the close or ``until``."""
    received: list[dict[str, Any]] = []
    async with connect(f"{server.ws_url}/jobs/{job_id}/events", subprotocols=["bearer", user.token]) as ws:
        try:
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), timeout=120))
                received.append(event)
                if event["type"] == until:
                    break
        except ConnectionClosed:
            assert ws.close_code == 1000, ws.close_reason
    return received


async def run_job(
    http: httpx.AsyncClient, server: AsgiServer, user: User, **body: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    response = await http.post(
        "/jobs", json={"prompt": "a sunlit kitchen with green tiles", **SMALL, **body}, headers=user.headers
    )
    assert response.status_code == 202, response.text
    job = response.json()
    return job, await events_of(server, job["id"], user)


async def test_register_assist_draw_keep_rate_share(
    e2e_http: httpx.AsyncClient, e2e_server: AsgiServer, e2e_accounts: Accounts, worker: WorkerProcess
) -> None:
    http = e2e_http
    # register and log in as a client does
    email = f"ann-{time.time_ns()}@example.com"
    assert (
        await http.post("/auth/register", json={"email": email, "password": "a-long-example-password-7"})
    ).status_code == 201
    token = (await http.post("/auth/token", data={"username": email, "password": "a-long-example-password-7"})).json()[
        "access_token"
    ]
    me = (await http.get("/users/me", headers={"Authorization": f"Bearer {token}"})).json()
    ann = User(id=me["id"], email=email, token=token, headers={"Authorization": f"Bearer {token}"})
    ben = await e2e_accounts.user(level="Pro-Tier")

    # the prompt assistant on the AI internal API (tiny GGUF: schema-valid, random words)
    assist = await http.post("/prompts/assist", json={"idea": "a calm nordic bedroom"}, headers=ann.headers)
    assert assist.status_code == 200, assist.text
    assert set(assist.json()) == {"prompt", "negative_prompt", "notes", "added"}

    # describe a room: text2img, watched live
    job, events = await run_job(http, e2e_server, ann, title="Ann's kitchen", public=True, seed=42)
    types = [e["type"] for e in events]
    assert types[0] == "queued" and types[1] == "started" and types[-1] == "succeeded", types
    steps = [e["step"] for e in events if e["type"] == "progress"]
    assert steps == sorted(steps) and steps[-1] == SMALL["steps"]
    image_id = events[-1]["image_id"]

    # keep it: recorded in history, on disk, downloadable
    done = (await http.get(f"/jobs/{job['id']}", headers=ann.headers)).json()
    assert (done["status"], done["image_id"], done["watermark"]) == ("succeeded", image_id, True)
    assert done["params"]["seed"] == 42
    assert done["started_at"] and done["finished_at"]
    history = (await http.get("/images", headers=ann.headers)).json()["items"]
    assert [(i["id"], i["kind"], i["title"]) for i in history] == [(image_id, "generated", "Ann's kitchen")]
    content = await http.get(f"/images/{image_id}/content", headers=ann.headers)
    assert content.status_code == 200 and content.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(content.content)).size == (64, 64)
    store = e2e_server.app.state.services.media.store
    row = await _image_row(image_id)
    assert store.local_path(row["storage_key"]).read_bytes() == content.content

    # upload a room photo, then img2img and inpaint from it
    photo = (await upload(http, ann, picture(64, 64, "JPEG"), title="my room")).json()
    mask = (await upload(http, ann, picture(64, 64, "PNG", color=(255, 255, 255)), title="mask")).json()
    _, img2img = await run_job(
        http, e2e_server, ann, task="img2img", source_image_id=photo["id"], strength=0.6, steps=6
    )
    assert img2img[-1]["type"] == "succeeded", img2img[-1]
    # the picture leads back to its job (and so to its source photo: the before/after view), for its owner only
    drawn = (await http.get(f"/images/{img2img[-1]['image_id']}", headers=ann.headers)).json()
    source = (await http.get(f"/jobs/{drawn['job_id']}", headers=ann.headers)).json()["params"]["source_image_id"]
    assert source == photo["id"]
    assert (await http.get(f"/images/{photo['id']}", headers=ann.headers)).json()["job_id"] is None
    _, inpaint = await run_job(
        http, e2e_server, ann, task="inpaint", source_image_id=photo["id"], mask_image_id=mask["id"], steps=6
    )
    assert inpaint[-1]["type"] == "succeeded", inpaint[-1]
    kinds = [i["kind"] for i in (await http.get("/images", headers=ann.headers)).json()["items"]]
    assert kinds == ["generated", "generated", "upload", "upload", "generated"]

    # rate it and share it: Ben rates Ann's public picture; it reaches the front page
    assert (await http.get(f"/images/{image_id}", headers=ben.headers)).json()["job_id"] is None  # Ann's job stays hers
    rated = await http.put(f"/images/{image_id}/rating", json={"stars": 5}, headers=ben.headers)
    assert rated.status_code == 201 and rated.json()["average"] == 5.0
    featured = (await http.get("/gallery/featured")).json()
    assert image_id in [item["id"] for item in featured]
    assert image_id in [item["id"] for item in (await http.get("/gallery", params={"sort": "new"})).json()["items"]]

    # every AI call was logged for Ann: 1 assist + 3 jobs, all successful
    usage = (await http.get("/users/me/usage", headers=ann.headers)).json()
    totals = {t["service"]: (t["calls"], t["successes"]) for t in usage["totals"]}
    assert totals == {"prompt_assist": (1, 1), "text2img": (1, 1), "img2img": (1, 1), "inpaint": (1, 1)}

    # Pro-Tier outputs carry no watermark
    pro_job, pro_events = await run_job(http, e2e_server, ben)
    assert pro_events[-1]["type"] == "succeeded" and pro_job["watermark"] is False


async def _image_row(image_id: str) -> dict[str, Any]:
    from housify_api.media.tables import Image as ImageRow

    return await ImageRow.select().where(ImageRow.id == image_id).first()


async def test_permission_matrix_on_results(
    e2e_http: httpx.AsyncClient, e2e_server: AsgiServer, e2e_accounts: Accounts, worker: WorkerProcess
) -> None:
    http = e2e_http
    owner, other, admin = await e2e_accounts.user(), await e2e_accounts.user(), await e2e_accounts.user(role="admin")
    job, events = await run_job(http, e2e_server, owner)
    image = f"/images/{events[-1]['image_id']}"
    jobs = f"/jobs/{job['id']}"
    anonymous: dict[str, str] = {}
    expected = {  # (method, path, body): owner, other, anonymous, admin
        ("GET", jobs, None): (200, 404, 401, 200),
        ("GET", image, None): (200, 404, 404, 200),
        ("GET", image + "/content", None): (200, 404, 404, 200),
        ("PUT", image + "/rating", '{"stars": 4}'): (403, 404, 401, 201),
        ("PATCH", image, '{"title": "renamed"}'): (200, 404, 401, 200),
        ("DELETE", jobs, None): (409, 404, 401, 409),
    }
    for (method, path, body), codes in expected.items():
        for who, code in zip((owner.headers, other.headers, anonymous, admin.headers), codes, strict=True):
            response = await http.request(
                method, path, content=body, headers={**who, "content-type": "application/json"}
            )
            assert response.status_code == code, (method, path, who is owner.headers, response.text)
    # events: only the owner (and admins) may listen
    async with connect(f"{e2e_server.ws_url}{jobs}/events", subprotocols=["bearer", other.token]) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4404  # the same answer as for no such job (issue 21 item 16)
    for who, code in ((other, 404), (owner, 204)):
        assert (await http.delete(image, headers=who.headers)).status_code == code


async def test_cancel_a_running_job(
    e2e_http: httpx.AsyncClient, e2e_server: AsgiServer, e2e_accounts: Accounts, worker: WorkerProcess
) -> None:
    user = await e2e_accounts.user()
    response = await e2e_http.post(
        "/jobs", json={"prompt": "a long job", "width": 256, "height": 256, "steps": 100}, headers=user.headers
    )
    job = response.json()
    await events_of(e2e_server, job["id"], user, until="progress")
    cancelled = await e2e_http.delete(f"/jobs/{job['id']}", headers=user.headers)
    assert cancelled.status_code == 200
    rest = await events_of(e2e_server, job["id"], user)
    assert rest[-1]["type"] == "cancelled"
    assert max(e["step"] for e in rest if e["type"] == "progress") < 100
    for _ in range(100):
        final = (await e2e_http.get(f"/jobs/{job['id']}", headers=user.headers)).json()
        if final["status"] == "cancelled":
            break
        await asyncio.sleep(0.05)
    assert final["status"] == "cancelled" and final["image_id"] is None


async def test_jobs_wait_while_the_ai_worker_is_down(
    e2e_http: httpx.AsyncClient, e2e_server: AsgiServer, e2e_accounts: Accounts, worker: WorkerProcess
) -> None:
    user = await e2e_accounts.user()
    worker.stop()
    try:
        job = (await e2e_http.post("/jobs", json={"prompt": "waiting room", **SMALL}, headers=user.headers)).json()
        await asyncio.sleep(0.5)
        waiting = (await e2e_http.get(f"/jobs/{job['id']}", headers=user.headers)).json()
        assert waiting["status"] == "queued"
        assert "no AI worker is running" in waiting["detail"]
    finally:
        await worker.start(
            e2e_server.app.state.services.redis, e2e_server.app.state.services.media.queue.streams.workers()
        )
    events = await events_of(e2e_server, job["id"], user)
    assert events[0]["type"] == "queued" and events[-1]["type"] == "succeeded"


@pytest.mark.parametrize(("level", "limit"), [("Free-Tier", 6), ("Pro-Tier", 60)])
async def test_both_levels_requests_hour(
    e2e_http: httpx.AsyncClient, e2e_accounts: Accounts, worker: WorkerProcess, level: str, limit: int
) -> None:
    """Each level's jobs per rolling hour (docs/design.md, "Subscription levels"); the jobs are cancelled at once to spare the worker."""
    user = await e2e_accounts.user(level=level)
    for n in range(limit):
        response = await e2e_http.post("/jobs", json={"prompt": f"room {n}", **SMALL}, headers=user.headers)
        assert response.status_code == 202, (n, response.text)
        assert response.headers["ratelimit-remaining"] == str(limit - n - 1)
        await e2e_http.delete(f"/jobs/{response.json()['id']}", headers=user.headers)
    refused = await e2e_http.post("/jobs", json={"prompt": "one too many", **SMALL}, headers=user.headers)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 3500
    assert f"{level}) allows {limit} jobs per hour" in refused.json()["detail"]
