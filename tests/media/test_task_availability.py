"""``GET /tasks`` and ``POST /jobs`` follow what the live AI workers report they run (a task whose
runtime could not load on a worker is left out there, with the reason)."""

from __future__ import annotations

import time

import httpx
import msgspec

from apikit import Accounts, picture, upload
from housify_ai.contract import StreamKeys
from testkit import AsgiServer

NO_UPSCALER = "the Real-ESRGAN upscaler cannot load (libvulkan.so.1); install: apt-get install libvulkan1"


def streams(server: AsgiServer) -> StreamKeys:
    return server.app.state.services.media.queue.streams


async def a_worker_runs(server: AsgiServer, name: str, tasks: list[str] | None, seen: float | None = None) -> None:
    """A worker's heartbeat entry as ``housify_ai.worker.Worker`` writes it (``tasks`` None: an older worker)."""
    status: dict = {"consumer": name, "seen_at": time.time() if seen is None else seen, "models": []}
    if tasks is not None:
        status |= {"tasks": tasks, "unavailable": {"upscale": NO_UPSCALER} if "upscale" not in tasks else {}}
    await server.app.state.services.redis.hset(streams(server).workers(), name, msgspec.json.encode(status))


def states(body: dict) -> dict[str, tuple[bool, str]]:
    return {t["name"]: (t["available"], t["state"]) for t in body["tasks"]}


async def test_a_task_no_live_worker_runs_is_refused_by_name_and_listed_off(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    pro = await accounts.user(level="Pro-Tier")
    pic = (await upload(http, pro, picture(64, 48))).json()["id"]
    job = {"task": "upscale", "source_image_id": pic, "scale": 2}
    client = media_server.app.state.services.redis
    await client.delete(streams(media_server).workers())
    try:
        # No worker at all: accepted (it waits queued), and said so.
        listed = await http.get("/tasks")  # public: no credentials
        assert listed.status_code == 200 and listed.json()["workers"] == 0
        assert states(listed.json())["upscale"] == (True, "no_workers")
        assert (await http.post("/jobs", json=job, headers=pro.headers)).status_code == 202

        # A live worker without the upscaler, and a dead one that had it: refused, naming the task and why.
        await a_worker_runs(media_server, "w-no-upscale", ["text2img", "img2img", "inpaint", "redesign"])
        await a_worker_runs(media_server, "w-gone", ["upscale"], seen=time.time() - 3600)
        listed = (await http.get("/tasks")).json()
        assert listed["workers"] == 1
        assert states(listed)["upscale"] == (False, "not_offered")
        assert states(listed)["text2img"] == (True, "offered")
        upscale = next(t for t in listed["tasks"] if t["name"] == "upscale")
        assert upscale["reason"] == f"no AI worker offers upscale: {NO_UPSCALER}"
        refused = await http.post("/jobs", json=job, headers=pro.headers)
        assert refused.status_code == 503, refused.text
        assert refused.json()["detail"].startswith("task: upscale is not available on this server now")
        assert "apt-get install libvulkan1" in refused.json()["detail"]
        small = {"prompt": "a hall", "width": 64, "height": 64, "steps": 2}
        assert (await http.post("/jobs", json=small, headers=pro.headers)).status_code == 202

        # A worker that runs it (or one older than the report, which ran every task): accepted again.
        await a_worker_runs(media_server, "w-old", None)
        assert states((await http.get("/tasks")).json())["upscale"] == (True, "offered")
        assert (await http.post("/jobs", json=job, headers=pro.headers)).status_code == 202
    finally:
        await client.delete(streams(media_server).workers())


#: The levels every installation seeds; other tests of the session add their own (e.g. a free "Test-Tiny").
SEEDED = ("Free-Tier", "Pro-Tier")


def levels_of(body: dict) -> dict[str, list[str]]:
    """Each task's ``levels`` among :data:`SEEDED`, in the answer's order (cheapest first)."""
    return {t["name"]: [name for name in t["levels"] if name in SEEDED] for t in body["tasks"]}


async def test_tasks_say_which_levels_include_each_before_a_job_is_refused(
    http: httpx.AsyncClient, accounts: Accounts
) -> None:
    """Issue 18: the web app marks "Enlarge — Pro" from ``GET /tasks`` before any 403 (the level switch)."""
    admin, free = await accounts.user(role="admin"), await accounts.user()
    pic = (await upload(http, free, picture(64, 48))).json()["id"]
    job = {"task": "upscale", "source_image_id": pic, "scale": 2}

    # The declaration: upscale is Pro-Tier's; text2img every level's. Cheapest level first.
    levels = levels_of((await http.get("/tasks")).json())  # public: no credentials
    assert levels["upscale"] == ["Pro-Tier"]
    assert levels["text2img"] == ["Free-Tier", "Pro-Tier"]
    refused = await http.post("/jobs", json=job, headers=free.headers)
    assert refused.status_code == 403 and "does not include 'upscale'" in refused.json()["detail"]

    # An admin's choice per level shows at once on this instance (and within 10 s on the others).
    on = await http.put("/admin/levels/Free-Tier/tasks/upscale", json={"allowed": True}, headers=admin.headers)
    assert on.status_code == 200, on.text
    try:
        assert levels_of((await http.get("/tasks")).json())["upscale"] == ["Free-Tier", "Pro-Tier"]
        assert (await http.post("/jobs", json=job, headers=free.headers)).status_code == 202
        off = await http.put("/admin/levels/Pro-Tier/tasks/upscale", json={"allowed": False}, headers=admin.headers)
        assert off.status_code == 200, off.text
        assert levels_of((await http.get("/tasks")).json())["upscale"] == ["Free-Tier"]
    finally:
        for level, allowed in (("Free-Tier", False), ("Pro-Tier", True)):
            back = await http.put(
                f"/admin/levels/{level}/tasks/upscale", json={"allowed": allowed}, headers=admin.headers
            )
            assert back.status_code == 200, back.text
    assert levels_of((await http.get("/tasks")).json())["upscale"] == ["Pro-Tier"]

    # The OpenAPI document publishes the field (the web app's typed client is generated from it).
    schema = (await http.get("/schema/openapi.json")).json()
    task_out = schema["components"]["schemas"]["TaskOut"]
    assert "levels" in task_out["required"]
    assert task_out["properties"]["levels"] == {"items": {"type": "string"}, "type": "array"}
