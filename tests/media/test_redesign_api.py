"""``POST /jobs`` with ``task=redesign``: refused by name for controls no live AI worker offers,
and the control image a worker stored comes back with the result as one of the user's images."""

from __future__ import annotations

import asyncio
import time

import httpx
import msgspec

from apikit import Accounts, picture, upload
from housify_ai.contract import RESULT_FIELD, JobResult, StoredImage, StreamKeys, encode
from housify_common.imaging import encode_png, make_thumbnail
from testkit import AsgiServer


def streams(server: AsgiServer) -> StreamKeys:
    return server.app.state.services.media.queue.streams


async def a_worker_offers(server: AsgiServer, name: str, controls: list[str], restyle: list[str]) -> None:
    """A live worker's heartbeat entry, as ``housify_ai.worker.Worker`` writes it."""
    status = {
        "consumer": name,
        "seen_at": time.time(),
        "models": [{"kind": "redesign", "controls": controls, "restyle": restyle}],
    }
    await server.app.state.services.redis.hset(streams(server).workers(), name, msgspec.json.encode(status))


async def test_redesign_asks_only_for_what_the_workers_offer(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    user = await accounts.user()
    photo = (await upload(http, user, picture(96, 64))).json()["id"]
    body = {"task": "redesign", "source_image_id": photo, "prompt": "a japandi bedroom", "long_side": 96, "steps": 2}
    client = media_server.app.state.services.redis
    await client.delete(streams(media_server).workers())
    # No worker at all: the job is accepted and waits, like every job.
    assert (await http.post("/jobs", json={**body, "controls": ["depth"]}, headers=user.headers)).status_code == 202
    await a_worker_offers(media_server, "w1", ["lines"], ["room"])
    try:
        refused = await http.post("/jobs", json={**body, "controls": ["lines", "depth"]}, headers=user.headers)
        assert refused.status_code == 422
        assert "controls: depth not offered by the AI workers (offered: lines)" in refused.json()["detail"]
        furniture = await http.post("/jobs", json={**body, "restyle": "furniture"}, headers=user.headers)
        assert furniture.status_code == 422
        assert "restyle: furniture not offered" in furniture.json()["detail"]
        await a_worker_offers(media_server, "w2", ["lines", "depth", "segmentation"], ["room", "furniture"])
        ok = await http.post(
            "/jobs", json={**body, "controls": ["lines", "depth"], "restyle": "furniture"}, headers=user.headers
        )
        assert ok.status_code == 202, ok.text
        assert ok.json()["params"]["controls"] == ["lines", "depth"]
        assert ok.json()["params"]["strength"] == 1.0
        bad = await http.post(
            "/jobs", json={**body, "control_guidance_start": 0.9, "control_guidance_end": 0.2}, headers=user.headers
        )
        assert bad.status_code == 422
        assert "control_guidance_start" in bad.json()["detail"]
    finally:
        await client.delete(streams(media_server).workers())


async def test_the_control_image_is_returned_with_the_result(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    from PIL import Image

    user = await accounts.user()
    photo = (await upload(http, user, picture(96, 64))).json()["id"]
    job = (
        await http.post(
            "/jobs",
            json={"task": "redesign", "source_image_id": photo, "long_side": 96, "steps": 2},
            headers=user.headers,
        )
    ).json()
    store, job_id = media_server.app.state.services.media.store, job["id"]
    picture_, control = Image.new("RGB", (96, 64), (200, 150, 90)), Image.new("RGB", (96, 64), (0, 0, 0))
    for key, data in ((f"images/{job_id}.png", encode_png(picture_)), (f"thumbs/{job_id}.webp", make_thumbnail(picture_)),
                      (f"controls/{job_id}.png", encode_png(control)), (f"thumbs/{job_id}-control.webp", make_thumbnail(control))):  # fmt: skip
        await store.put(key, data)
    result = JobResult(
        job_id=job_id, status="succeeded", image_key=f"images/{job_id}.png", thumb_key=f"thumbs/{job_id}.webp", width=96, height=64,
        seed=3, started_at=time.time(), finished_at=time.time(),
        control=StoredImage(key=f"controls/{job_id}.png", thumb_key=f"thumbs/{job_id}-control.webp", width=96, height=64),
    )  # fmt: skip
    await media_server.app.state.services.redis.xadd(streams(media_server).results(), {RESULT_FIELD: encode(result)})
    for _ in range(200):
        done = (await http.get(f"/jobs/{job_id}", headers=user.headers)).json()
        if done["status"] == "succeeded":
            break
        await asyncio.sleep(0.05)
    assert done["status"] == "succeeded"
    assert done["image_id"]
    control_id = done["params"]["control_image_id"]
    shown = (await http.get(f"/images/{control_id}", headers=user.headers)).json()
    assert (shown["title"], shown["width"], shown["height"]) == ("control image", 96, 64)
    content = await http.get(shown["url"], headers=user.headers)
    assert content.status_code == 200
    assert content.headers["content-type"] == "image/png"


async def test_a_lora_adapter_is_asked_for_by_name_and_kept_to_its_levels(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    free, pro = await accounts.user(), await accounts.user(level="Pro-Tier")
    client = media_server.app.state.services.redis
    status = {
        "consumer": "w-lora",
        "seen_at": time.time(),
        "models": [{"kind": "diffusion", "loras": [{"name": "marble", "weight": 0.8, "levels": ["Pro-Tier"]}]}],
    }
    await client.hset(streams(media_server).workers(), "w-lora", msgspec.json.encode(status))
    body = {"prompt": "a marble bathroom", "width": 64, "height": 64, "steps": 2}
    try:
        ok = await http.post("/jobs", json={**body, "lora": "marble", "lora_scale": 0.5}, headers=pro.headers)
        assert ok.status_code == 202, ok.text
        assert (ok.json()["params"]["lora"], ok.json()["params"]["lora_scale"]) == ("marble", 0.5)
        level = await http.post("/jobs", json={**body, "lora": "marble"}, headers=free.headers)
        assert level.status_code == 422
        assert "lora: adapter 'marble' is not offered to your level (Free-Tier)" in level.json()["detail"]
        unknown = await http.post("/jobs", json={**body, "lora": "oil"}, headers=pro.headers)
        assert unknown.status_code == 422
        assert "lora: no adapter 'oil' on the AI workers (offered: marble)" in unknown.json()["detail"]
        assert (await http.post("/jobs", json={**body, "lora": "../x"}, headers=pro.headers)).status_code in (400, 422)
    finally:
        await client.delete(streams(media_server).workers())
