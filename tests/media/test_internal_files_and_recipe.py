"""Issue 18: a job's internal files (masks, control images) are not the user's pictures; a picture's recipe.

Masks (uploaded with ``purpose=mask``) and a redesign's control image belong to
their job: not in History, never public, not charged to storage. A generated
picture answers its owner with the recipe that made it (the user's own words,
presets, seed, model, size, steps, guidance, source picture).
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from PIL import Image

from apikit import Accounts, picture, upload
from housify_ai.contract import RESULT_FIELD, JobResult, StoredImage, encode
from housify_common.imaging import encode_png, make_thumbnail
from testkit import AsgiServer


async def upload_mask(http: httpx.AsyncClient, user, data: bytes, **form: str) -> httpx.Response:  # noqa: ANN001
    return await http.post(
        "/images/uploads",
        files={"file": ("mask.png", data, "image/png")},
        data={"title": "mask", "purpose": "mask", **form},
        headers=user.headers,
    )


async def test_masks_are_not_pictures(
    http: httpx.AsyncClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from housify_api.media import images
    from housify_api.media.quota import used_bytes

    user = await accounts.user()
    photo = (await upload(http, user, picture(64, 64))).json()
    charged = await used_bytes(user.id)
    assert charged == photo["size_bytes"] > 0
    created = await upload_mask(http, user, picture(64, 64, color=(255, 255, 255)))
    assert created.status_code == 201, created.text
    mask = created.json()
    assert (mask["kind"], mask["public"], mask["size_bytes"]) == ("mask", False, 0)
    assert await used_bytes(user.id) == charged  # not counted against storage
    listed = (await http.get("/images", headers=user.headers)).json()["items"]
    assert [item["id"] for item in listed] == [photo["id"]]  # not in History
    refused = await http.patch(f"/images/{mask['id']}", json={"public": True}, headers=user.headers)
    assert refused.status_code == 422 and "public" in refused.json()["detail"]
    assert (await http.get(mask["url"])).status_code == 200  # the owner's job (and screen) can still read it
    public_mask = await upload_mask(http, user, picture(32, 32), public="true")
    assert public_mask.status_code == 400 and "public" in public_mask.text
    bad = await upload_mask(http, user, picture(32, 32), purpose="avatar")
    assert bad.status_code == 400 and "purpose" in bad.text

    # an inpaint takes it as its mask
    job = await http.post(
        "/jobs",
        json={
            "task": "inpaint",
            "prompt": "a green sofa",
            "source_image_id": photo["id"],
            "mask_image_id": mask["id"],
            "width": 64,
            "height": 64,
            "steps": 2,
        },
        headers=user.headers,
    )
    assert job.status_code == 202, job.text

    # a user keeps the newest MASKS_KEPT masks: older ones go as new ones come
    monkeypatch.setattr(images, "MASKS_KEPT", 2)
    newer = [(await upload_mask(http, user, picture(32, 32))).json() for _ in range(2)]
    assert (await http.get(f"/images/{mask['id']}", headers=user.headers)).status_code == 404
    for kept in newer:
        assert (await http.get(f"/images/{kept['id']}", headers=user.headers)).status_code == 200
    assert await used_bytes(user.id) == charged


async def _finish(server: AsgiServer, job_id: str, *, control: bool, seed: int, model: str) -> None:
    """What a worker does at the end of a job: picture (and control image) in storage, then the result."""
    store, redis = server.app.state.services.media.store, server.app.state.services.redis
    image = Image.new("RGB", (64, 64), (200, 10, 10))
    await store.put(f"images/{job_id}.png", encode_png(image))
    await store.put(f"thumbs/{job_id}.webp", make_thumbnail(image))
    stored = None
    if control:
        await store.put(f"images/{job_id}-control.png", encode_png(image))
        await store.put(f"thumbs/{job_id}-control.webp", make_thumbnail(image))
        stored = StoredImage(
            key=f"images/{job_id}-control.png", thumb_key=f"thumbs/{job_id}-control.webp", width=64, height=64
        )
    result = JobResult(
        job_id=job_id,
        status="succeeded",
        image_key=f"images/{job_id}.png",
        thumb_key=f"thumbs/{job_id}.webp",
        control=stored,
        width=64,
        height=64,
        seed=seed,
        model=model,
        started_at=time.time() - 1,
        finished_at=time.time(),
    )
    await redis.xadd(server.app.state.services.media.queue.streams.results(), {RESULT_FIELD: encode(result)})


async def _image_of(http: httpx.AsyncClient, user, job_id: str) -> dict:  # noqa: ANN001
    import asyncio

    for _ in range(200):
        job = (await http.get(f"/jobs/{job_id}", headers=user.headers)).json()
        if job["image_id"]:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} was not recorded")


async def test_control_image_belongs_to_its_job_and_the_recipe_gives_the_settings_back(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    from housify_api.media.quota import used_bytes

    owner, other = await accounts.user(), await accounts.user()
    source = (await upload(http, owner, picture(64, 64))).json()
    body = {
        "task": "img2img",
        "prompt": "cozy reading corner",
        "negative_prompt": "people",
        "room_type": "living-room",
        "seed": 1234,
        "width": 64,
        "height": 64,
        "steps": 3,
        "guidance_scale": 6.5,
        "strength": 0.6,
        "source_image_id": source["id"],
        "title": "corner",
        "public": True,
    }
    submitted = await http.post("/jobs", json=body, headers=owner.headers)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    assert "living room interior" in submitted.json()["params"]["prompt"]  # the preset is composed in
    before = await used_bytes(owner.id)
    await _finish(media_server, job_id, control=True, seed=1234, model="tiny-sd")
    job = await _image_of(http, owner, job_id)

    # the control image: a row of the job, not a picture of the user
    control_id = job["params"]["control_image_id"]
    control = (await http.get(f"/images/{control_id}", headers=owner.headers)).json()
    assert control["kind"] == "control" and control["size_bytes"] == 0
    listed = [item["id"] for item in (await http.get("/images", headers=owner.headers)).json()["items"]]
    assert control_id not in listed and job["image_id"] in listed
    result = (await http.get(f"/images/{job['image_id']}", headers=owner.headers)).json()
    assert await used_bytes(owner.id) - before == result["size_bytes"]  # the control's bytes are not charged
    refused = await http.patch(f"/images/{control_id}", json={"public": True}, headers=owner.headers)
    assert refused.status_code == 422

    recipe = result["recipe"]
    assert recipe == {
        "job_id": job_id,
        "task": "img2img",
        "prompt": "cozy reading corner",  # the user's words, without the preset's fragment
        "negative_prompt": "people",
        "room_type": "living-room",
        "style": None,
        "seed": 1234,
        "model": "tiny-sd",
        "params": recipe["params"],
        "source_image_id": source["id"],
        "mask_image_id": None,
        "control_image_id": control_id,
    }
    assert {k: recipe["params"][k] for k in ("width", "height", "steps", "guidance_scale", "strength")} == {
        "width": 64,
        "height": 64,
        "steps": 3,
        "guidance_scale": 6.5,
        "strength": 0.6,
    }
    # "use these settings": the recipe is a valid POST /jobs body again
    again = {
        k: v for k, v in recipe.items() if k not in ("job_id", "params", "model", "control_image_id") and v is not None
    }
    redo = await http.post("/jobs", json={**again, **recipe["params"]}, headers=owner.headers)
    assert redo.status_code == 202, redo.text
    assert redo.json()["params"]["prompt"] == submitted.json()["params"]["prompt"]

    # the picture is public, its recipe is its owner's
    seen = (await http.get(f"/images/{job['image_id']}", headers=other.headers)).json()
    assert seen["recipe"] is None and seen["job_id"] is None
    assert (await http.get(f"/images/{uuid.uuid4()}", headers=owner.headers)).status_code == 404


async def test_an_inpaint_pictures_recipe_names_its_mask_for_recall(
    http: httpx.AsyncClient, accounts: Accounts, media_server: AsgiServer
) -> None:
    """Issue 18: "Use these settings" on an inpainted picture brings its painted area back (the web app reads
    ``recipe.mask_image_id`` and the mask's file); the mask stays its owner's alone."""
    owner, other = await accounts.user(), await accounts.user()
    photo = (await upload(http, owner, picture(96, 64))).json()
    white_left = Image.new("L", (96, 64), 0)
    white_left.paste(255, (0, 0, 48, 64))
    mask = (await upload_mask(http, owner, encode_png(white_left))).json()
    body = {
        "task": "inpaint",
        "prompt": "a green wall",
        "source_image_id": photo["id"],
        "mask_image_id": mask["id"],
        "width": 96,
        "height": 64,
        "steps": 2,
        "strength": 0.7,
        "seed": 77,
    }
    submitted = await http.post("/jobs", json=body, headers=owner.headers)
    assert submitted.status_code == 202, submitted.text
    await _finish(media_server, submitted.json()["id"], control=False, seed=77, model="tiny-sd")
    job = await _image_of(http, owner, submitted.json()["id"])
    recipe = (await http.get(f"/images/{job['image_id']}", headers=owner.headers)).json()["recipe"]
    assert (recipe["task"], recipe["source_image_id"], recipe["mask_image_id"]) == ("inpaint", photo["id"], mask["id"])
    assert recipe["params"]["strength"] == 0.7 and recipe["seed"] == 77

    # The mask is read back as it was painted: white (repaint) on the left half, black elsewhere.
    stored = (await http.get(f"/images/{recipe['mask_image_id']}", headers=owner.headers)).json()
    assert (stored["kind"], stored["width"], stored["height"]) == ("mask", 96, 64)
    file = await http.get(stored["url"])
    assert file.status_code == 200
    from io import BytesIO

    pixels = Image.open(BytesIO(file.content)).convert("L")
    assert (pixels.getpixel((5, 32)), pixels.getpixel((90, 32))) == (255, 0)
    assert (await http.get(f"/images/{mask['id']}", headers=other.headers)).status_code == 404

    # The recipe with its mask is a valid POST /jobs body again (the recalled mask is reused as it is).
    again = {k: v for k, v in recipe.items() if k not in ("job_id", "params", "model", "control_image_id")}
    redo = await http.post("/jobs", json={**again, **recipe["params"]}, headers=owner.headers)
    assert redo.status_code == 202, redo.text
    assert redo.json()["params"]["mask_image_id"] == mask["id"]
