"""Room-type and style presets (GET /presets, admin edits, jobs and the assistant), and variations (count)."""

from __future__ import annotations

import json

import httpx

from apikit import Accounts, picture, upload
from testkit import AsgiServer

SMALL = {"width": 64, "height": 64, "steps": 2}


async def test_presets_are_seeded_listed_and_used_by_jobs(http: httpx.AsyncClient, accounts: Accounts) -> None:
    listed = (await http.get("/presets")).json()  # public, like the levels
    rooms = {p["name"]: p for p in listed["room_types"]}
    styles = {p["name"]: p for p in listed["styles"]}
    assert {"living-room", "bedroom", "kitchen", "bathroom", "office", "facade", "garden"} <= set(rooms)
    assert {"modern", "scandinavian", "industrial", "japandi", "mid-century", "coastal"} <= set(styles)
    assert all(p["prompt"] and p["negative_prompt"] for p in [*rooms.values(), *styles.values()])

    user = await accounts.user()
    job = await http.post(
        "/jobs", json={**SMALL, "room_type": "living-room", "style": "Scandinavian"}, headers=user.headers
    )
    assert job.status_code == 202, job.text
    params = job.json()["params"]
    assert params["prompt"] == f"{rooms['living-room']['prompt']}, {styles['scandinavian']['prompt']}"
    assert params["negative_prompt"].startswith(rooms["living-room"]["negative_prompt"])
    assert (params["room_type"], params["style"]) == ("living-room", "Scandinavian")
    own = await http.post("/jobs", json={**SMALL, "prompt": "green sofa", "room_type": "bedroom"}, headers=user.headers)
    assert own.json()["params"]["prompt"] == f"green sofa, {rooms['bedroom']['prompt']}"

    for body, fragment in [
        ({"room_type": "attic"}, "room_type: unknown room type 'attic'; known: living-room"),
        ({"style": "baroque"}, "style: unknown style 'baroque'"),
        ({}, "prompt: required"),
    ]:
        bad = await http.post("/jobs", json={**SMALL, **body}, headers=user.headers)
        assert bad.status_code == 422 and fragment in bad.json()["detail"], bad.text
    assist = await http.post("/prompts/assist", json={"idea": "cosy", "room_type": "attic"}, headers=user.headers)
    assert assist.status_code == 422 and "room_type: unknown room type" in assist.json()["detail"]
    pro = await accounts.user(level="Pro-Tier")
    pic = (await upload(http, pro, picture(64, 48))).json()["id"]
    upscale = await http.post(
        "/jobs", json={"task": "upscale", "source_image_id": pic, "style": "modern"}, headers=pro.headers
    )
    assert upscale.status_code == 422 and "style: task upscale takes no style" in upscale.json()["detail"]


async def test_admins_edit_presets_and_seeding_keeps_their_edits(http: httpx.AsyncClient, accounts: Accounts) -> None:
    from housify_api.media.catalog.presets import seed_presets

    admin, user = await accounts.user(role="admin"), await accounts.user()
    body = {
        "label": "art deco",
        "prompt": "art deco style, brass, geometric patterns",
        "negative_prompt": "rustic",
        "position": 95,
    }
    assert (await http.put("/admin/presets/style/art-deco", json=body, headers=user.headers)).status_code == 403
    made = await http.put("/admin/presets/style/art-deco", json=body, headers=admin.headers)
    assert made.status_code == 200 and made.json()["label"] == "art deco"
    job = await http.post("/jobs", json={**SMALL, "prompt": "hall", "style": "art deco"}, headers=user.headers)
    assert job.json()["params"]["prompt"] == "hall, art deco style, brass, geometric patterns"

    edited = {"label": "modern", "prompt": "modern style, white oak", "negative_prompt": "clutter"}
    assert (await http.put("/admin/presets/style/modern", json=edited, headers=admin.headers)).status_code == 200
    assert await seed_presets() == 0  # nothing missing; the edit stays
    styles = {p["name"]: p for p in (await http.get("/presets")).json()["styles"]}
    assert styles["modern"]["prompt"] == "modern style, white oak" and "art-deco" in styles

    assert (await http.delete("/admin/presets/style/art-deco", headers=admin.headers)).status_code == 204
    assert (await http.delete("/admin/presets/style/art-deco", headers=admin.headers)).status_code == 404
    assert (await http.put("/admin/presets/colour/red", json=body, headers=admin.headers)).status_code == 400
    assert (await http.put("/admin/presets/style/Bad Name", json=body, headers=admin.headers)).status_code == 400
    gone = await http.post("/jobs", json={**SMALL, "prompt": "hall", "style": "art-deco"}, headers=user.headers)
    assert gone.status_code == 422


async def test_count_makes_one_job_per_seed_each_counted(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    user = await accounts.user()  # Free-Tier: 6 jobs per hour
    three = await http.post("/jobs", json={**SMALL, "prompt": "loft", "count": 3, "seed": 10}, headers=user.headers)
    assert three.status_code == 202, three.text
    assert three.headers["ratelimit-remaining"] == "3"
    batch = three.json()["batch"]
    assert len(batch) == 3 and batch[0] == three.json()["id"]
    jobs = [(await http.get(f"/jobs/{job_id}", headers=user.headers)).json() for job_id in batch]
    assert [j["params"]["seed"] for j in jobs] == [10, 11, 12]
    assert all(j["batch"] == batch for j in jobs)
    client, streams = media_server.app.state.services.redis, media_server.app.state.services.media.queue.streams
    queued = [json.loads(f[b"job"]) for _, f in await client.xrange(streams.jobs("Free-Tier"))]
    assert sorted(q["seed"] for q in queued if q["job_id"] in batch) == [10, 11, 12]

    over = await http.post("/jobs", json={**SMALL, "prompt": "loft", "count": 4}, headers=user.headers)
    assert over.status_code == 429 and "this request needs 4" in over.json()["detail"]
    rest = await http.post(
        "/jobs", json={**SMALL, "prompt": "loft", "count": 3}, headers=user.headers
    )  # nothing stayed counted
    assert rest.status_code == 202 and rest.headers["ratelimit-remaining"] == "0"
    seeds = [
        (await http.get(f"/jobs/{j}", headers=user.headers)).json()["params"]["seed"] for j in rest.json()["batch"]
    ]
    assert seeds == list(range(seeds[0], seeds[0] + 3))  # the API picked s, then s+1, s+2
    assert (
        await http.post("/jobs", json={**SMALL, "prompt": "x", "count": 5}, headers=user.headers)
    ).status_code == 400
    listed = (await http.get("/jobs", headers=user.headers)).json()["items"]
    assert len(listed) == 6
