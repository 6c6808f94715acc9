"""Image jobs end to end through the real Redis queue, an in-process worker and the tiny pipeline."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image, ImageChops

from housify_ai.contract import request_cancel
from housify_common.storage import DirectoryStore


def _store(rig) -> DirectoryStore:
    return DirectoryStore(rig.settings.storage_path)


async def test_text2img_produces_image_thumbnail_events_result_and_run_log(rig, migrated_db):
    from housify_ai.tables import InferenceRun

    async with rig.worker():
        request = await rig.enqueue(task="text2img", width=96, height=64, steps=4, seed=7)
        result = await rig.result(request.job_id)

    assert result.status == "succeeded", result.error
    assert (result.width, result.height, result.seed, result.device) == (96, 64, 7, "cpu")
    store = _store(rig)
    image = Image.open(io.BytesIO(await store.get(result.image_key)))
    assert (image.format, image.size) == ("PNG", (96, 64))
    thumb = Image.open(io.BytesIO(await store.get(result.thumb_key)))
    assert thumb.format == "WEBP"

    events = await rig.events(request.job_id)
    kinds = [e.type for e in events]
    assert kinds[:2] == ["queued", "started"] and kinds[-1] == "succeeded"
    progress = [(e.step, e.total) for e in events if e.type == "progress"]
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    previews = [e for e in events if e.type == "preview"]
    assert previews and all(
        e.preview and Image.open(io.BytesIO(__import__("base64").b64decode(e.preview))).format == "WEBP"
        for e in previews
    )
    assert events[-1].image_key == result.image_key and events[-1].seed == 7

    rows = await InferenceRun.select().where(InferenceRun.job_id == request.job_id)
    assert len(rows) == 1
    assert rows[0]["outcome"] == "succeeded" and rows[0]["task"] == "text2img" and rows[0]["steps"] == 4
    assert rows[0]["seconds"] > 0 and rows[0]["peak_memory_bytes"] > 0


@pytest.mark.parametrize("task", ["img2img", "inpaint"])
async def test_img2img_and_inpaint_from_stored_uploads(rig, task):
    store = _store(rig)
    source = Image.new("RGB", (80, 80), (180, 120, 60))
    buf = io.BytesIO()
    source.save(buf, "PNG")
    await store.put("uploads/source.png", buf.getvalue())
    mask = Image.new("L", (80, 80), 0)
    mask.paste(255, (20, 20, 60, 60))
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    await store.put("uploads/mask.png", buf.getvalue())

    extra = {"mask_key": "uploads/mask.png"} if task == "inpaint" else {}
    async with rig.worker():
        request = await rig.enqueue(task=task, source_key="uploads/source.png", steps=4, strength=0.5, seed=3, **extra)
        result = await rig.result(request.job_id)
    assert result.status == "succeeded", result.error
    image = Image.open(io.BytesIO(await store.get(result.image_key)))
    assert image.size == (64, 64)
    progress = [(e.step, e.total) for e in await rig.events(request.job_id) if e.type == "progress"]
    assert progress == [(1, 2), (2, 2)]  # strength 0.5 runs the last half of 4 steps


async def test_inpaint_keeps_every_unpainted_pixel_and_redraws_the_painted_area(rig):
    """ "Only the area I paint": outside the mask the result is the source, pixel for pixel (no VAE round trip)."""
    import numpy as np

    store = _store(rig)
    rng = np.random.default_rng(7)
    source = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))  # texture: a VAE cannot copy it
    buf = io.BytesIO()
    source.save(buf, "PNG")
    await store.put("uploads/texture.png", buf.getvalue())
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    await store.put("uploads/square.png", buf.getvalue())

    async with rig.worker():
        request = await rig.enqueue(
            task="inpaint",
            source_key="uploads/texture.png",
            mask_key="uploads/square.png",
            steps=4,
            strength=1.0,
            seed=3,
            width=64,
            height=64,
            level="Pro-Tier",
            watermark=False,
        )
        result = await rig.result(request.job_id)
    assert result.status == "succeeded", result.error
    out = np.asarray(Image.open(io.BytesIO(await store.get(result.image_key))).convert("RGB"), dtype=np.int16)
    diff = np.abs(out - np.asarray(source, dtype=np.int16)).max(axis=2)
    painted = np.asarray(mask) > 0
    assert diff[~painted].max() == 0, f"unpainted pixels changed by up to {diff[~painted].max()}"
    assert diff[painted].mean() > 20, "the painted area was not redrawn"


async def test_same_seed_same_pixels_and_the_used_seed_is_returned(rig):
    async with rig.worker():
        a = await rig.enqueue(seed=1234)
        b = await rig.enqueue(seed=1234)
        c = await rig.enqueue(seed=None)
        results = [await rig.result(r.job_id) for r in (a, b, c)]
        assert results[2].seed is not None
        d = await rig.enqueue(seed=results[2].seed)
        results.append(await rig.result(d.job_id))
    store = _store(rig)
    png = [await store.get(r.image_key) for r in results]
    assert png[0] == png[1]
    assert png[2] == png[3]
    assert png[0] != png[2] or results[2].seed == 1234


async def test_watermark_marks_only_free_level_outputs(rig):
    from housify_ai.imaging import watermark_box

    async with rig.worker():
        plain = await rig.enqueue(seed=5, width=128, height=128, level="Pro-Tier", watermark=False)
        marked = await rig.enqueue(seed=5, width=128, height=128, level="Free-Tier", watermark=True)
        r_plain, r_marked = await rig.result(plain.job_id), await rig.result(marked.job_id)
    assert (r_plain.watermarked, r_marked.watermarked) == (False, True)
    store = _store(rig)
    a = Image.open(io.BytesIO(await store.get(r_plain.image_key))).convert("RGB")
    b = Image.open(io.BytesIO(await store.get(r_marked.image_key))).convert("RGB")
    changed = ImageChops.difference(a, b).getbbox()
    box = watermark_box((128, 128), rig.settings.ai_watermark_text)
    assert changed is not None, "no visible watermark"
    assert box[0] <= changed[0] and box[1] <= changed[1] and changed[2] <= box[2] and changed[3] <= box[3]


async def test_cancel_stops_a_running_job_at_the_next_step(rig, migrated_db):
    from housify_ai.tables import InferenceRun

    async with rig.worker():
        request = await rig.enqueue(steps=100, width=128, height=128)
        await rig.wait_event(request.job_id, "progress")
        await request_cancel(rig.client, rig.keys, request.job_id)
        result = await rig.result(request.job_id)
    assert result.status == "cancelled"
    events = await rig.events(request.job_id)
    assert events[-1].type == "cancelled"
    steps = [e.step for e in events if e.type == "progress"]
    assert steps and max(steps) < 100
    assert result.image_key is None
    rows = await InferenceRun.select(InferenceRun.outcome).where(InferenceRun.job_id == request.job_id)
    assert rows == [{"outcome": "cancelled"}]


async def test_job_cancelled_while_queued_never_starts(rig):
    request = await rig.enqueue()
    await request_cancel(rig.client, rig.keys, request.job_id)
    async with rig.worker():
        result = await rig.result(request.job_id)
    assert result.status == "cancelled"
    assert [e.type for e in await rig.events(request.job_id)] == ["queued", "cancelled"]


async def test_failing_job_records_the_error_and_the_worker_carries_on(rig):
    async with rig.worker():
        bad = await rig.enqueue(task="img2img", source_key="uploads/missing.png", strength=0.5)
        good = await rig.enqueue()
        r_bad, r_good = await rig.result(bad.job_id), await rig.result(good.job_id)
    assert r_bad.status == "failed" and "source_key" in r_bad.error and "uploads/missing.png" in r_bad.error
    assert (await rig.events(bad.job_id))[-1].type == "failed"
    assert r_good.status == "succeeded"


async def test_undecodable_job_entry_fails_with_the_reason(rig):
    from housify_ai.contract import ensure_groups

    await ensure_groups(rig.client, rig.keys)
    await rig.client.xadd(
        rig.keys.jobs("Free-Tier"), {"job": b'{"job_id": "broken-1", "user_id": "u", "prompt": "x", "width": 63}'}
    )
    async with rig.worker():
        result = await rig.result("broken-1")
    assert result.status == "failed" and "width" in result.error


async def test_results_are_published_once_per_job_id(rig):
    """A job delivered again after its result is out is acknowledged, not run or published twice."""
    from housify_ai.contract import WORKER_GROUP, encode

    async with rig.worker():
        request = await rig.enqueue()
        await rig.result(request.job_id)
        # The same job appears again (e.g. a producer retried its XADD).
        await rig.client.xadd(rig.keys.jobs("Free-Tier"), {"job": encode(request)})
        marker = await rig.enqueue()
        await rig.result(marker.job_id)
    assert [r.job_id for r in await rig.results()].count(request.job_id) == 1
    pending = await rig.client.xpending(rig.keys.jobs("Free-Tier"), WORKER_GROUP)
    assert pending["pending"] == 0


async def test_worker_publishes_its_models_to_the_registry(rig):
    import msgspec

    async with rig.worker(ai_visibility_timeout=0.3) as worker:
        raw = None
        for _ in range(100):
            raw = await rig.client.hget(rig.keys.workers(), worker.settings.consumer_name)
            if raw:
                break
            await asyncio.sleep(0.05)
    status = msgspec.json.decode(raw)
    assert status["models"][0]["name"] == "tiny-sd" and status["models"][0]["device"] == "cpu"
    assert await rig.client.hget(rig.keys.workers(), worker.settings.consumer_name) is None


async def test_embedded_default_runs_jobs_on_in_process_fakeredis(rig):
    """``housify standalone``: empty HOUSIFY_REDIS_URL -> the shared fakeredis server, Lua scripts included."""
    import msgspec

    from housify_ai.contract import JobRequest, enqueue_job
    from housify_common.redis import redis_from_url

    settings = msgspec.structs.replace(rig.settings, redis_url="")
    api_side = redis_from_url("")  # what the API would use in the same process
    embedded = type(rig)(settings, rig.engine, redis_from_url(""))
    async with embedded.worker():
        request = JobRequest.from_flat(
            {"job_id": "embedded-1", "user_id": "u", "prompt": "a porch", "width": 64, "height": 64, "steps": 2}
        )
        await enqueue_job(api_side, embedded.keys, request)
        result = await embedded.result("embedded-1")
    assert result.status == "succeeded"
    assert [e.type for e in await embedded.events("embedded-1")][-1] == "succeeded"
    assert await rig.client.exists(rig.keys.results()) == 0  # nothing went to the real Redis


def test_build_tiny_is_deterministic(tiny_models, tmp_path):
    import hashlib

    from housify_ai.tiny_models import build_tiny_models

    build_tiny_models(tmp_path)

    def digest(root):
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    built = digest(tmp_path)
    assert built == digest(tiny_models)
    assert {"tiny-sd/model_index.json", "tiny-sd/unet/diffusion_pytorch_model.safetensors", "tiny-llama.gguf"} <= set(
        built
    )


async def test_out_of_memory_fails_the_job_and_the_worker_carries_on(rig, monkeypatch):
    """Fault injection: the UNet raises torch's OutOfMemoryError once (as CUDA does), then works."""
    import torch

    unet = rig.engine.base.unet
    real_forward = unet.forward
    calls = {"n": 0}

    def forward_once_oom(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", forward_once_oom)
    async with rig.worker():
        oom = await rig.enqueue()
        after = await rig.enqueue()
        r_oom, r_after = await rig.result(oom.job_id), await rig.result(after.job_id)
    assert r_oom.status == "failed" and "out of GPU memory" in r_oom.error
    assert r_after.status == "succeeded"


async def test_unreadable_source_image_fails_naming_the_field(rig):
    await DirectoryStore(rig.settings.storage_path).put("uploads/not-an-image.png", b"plain text, not a PNG")
    async with rig.worker():
        request = await rig.enqueue(task="img2img", source_key="uploads/not-an-image.png", strength=0.5)
        result = await rig.result(request.job_id)
    assert result.status == "failed" and result.error.startswith("ValueError: source_key: not a readable image")
