"""The ``redesign`` task through the real queue: registry entry, handler, stored control image,
and the rule that keeps jobs for controls no worker offers out of the queue."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from housify_ai.tasks import REGISTRY, RedesignParams, get_task


def photo_png() -> bytes:
    image = Image.new("RGB", (96, 64), (210, 205, 195))
    ImageDraw.Draw(image).rectangle((20, 10, 60, 50), outline=(10, 10, 10), width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def redesigner(engine, tiny_models: Path):
    from housify_ai.redesign import build_redesigner
    from housify_ai.settings import AISettings

    settings = AISettings(
        ai_diffusion_model="/srv/models/sd15",  # not the tiny model: only the controls named here
        ai_controlnet_lines=str(tiny_models / "tiny-controlnet-lines"),
        ai_controlnet_depth=str(tiny_models / "tiny-controlnet-depth"),
        ai_depth_model=str(tiny_models / "tiny-dpt"),
    )
    return build_redesigner(settings, engine)


def test_redesign_is_registered_with_its_inputs() -> None:
    spec = get_task("redesign")
    assert spec.params is RedesignParams
    assert spec.handler == "housify_ai.redesign:RedesignHandler"
    assert (spec.prompt, spec.source, spec.mask) == ("optional", "required", "none")
    assert spec.steps_of(spec.parse_params({"steps": 10, "strength": 0.5})) == 5
    assert "redesign" in REGISTRY


def test_params_are_checked_field_by_field() -> None:
    spec = get_task("redesign")
    assert spec.parse_params({}).controls == ["lines"]
    for bad, message in [
        ({"controls": ["lines", "lines"]}, "controls: each control kind at most once"),
        ({"controls": ["edges"]}, "Invalid enum value 'edges' - at `$.controls[0]`"),
        (
            {"controls": ["lines"], "controlnet_conditioning_scale": [1.0, 0.5]},
            "controlnet_conditioning_scale: one value per control",
        ),
        ({"control_guidance_start": 0.6, "control_guidance_end": 0.4}, "control_guidance_start: must be below"),
        ({"controlnet_conditioning_scale": 2.5}, "`$.controlnet_conditioning_scale`"),
        ({"long_side": 100}, "multiple of 8 - at `$.long_side`"),
    ]:
        with pytest.raises(Exception, match=message.replace("[", r"\[").replace("$", r"\$").replace("(", r"\(")):
            spec.parse_params(bad)


def test_jobs_for_controls_no_worker_offers_are_refused_by_name() -> None:
    spec = get_task("redesign")
    workers = [
        {"models": [{"kind": "diffusion"}, {"kind": "redesign", "controls": ["lines", "depth"], "restyle": ["room"]}]}
    ]
    spec.offered(spec.parse_params({"controls": ["depth", "lines"]}), workers, "Free-Tier")
    with pytest.raises(
        ValueError, match=r"controls: segmentation not offered by the AI workers \(offered: depth, lines\)"
    ):
        spec.offered(spec.parse_params({"controls": ["segmentation"]}), workers, "Free-Tier")
    with pytest.raises(ValueError, match="restyle: furniture not offered"):
        spec.offered(spec.parse_params({"restyle": "furniture"}), workers, "Free-Tier")
    with pytest.raises(ValueError, match=r"offered: none"):
        spec.offered(spec.parse_params({}), [{"models": [{"kind": "diffusion"}]}], "Free-Tier")


async def test_a_redesign_job_stores_the_picture_and_its_control_image(rig, redesigner) -> None:
    from housify_ai.redesign import RedesignHandler
    from housify_common.storage import DirectoryStore

    store = DirectoryStore(rig.settings.storage_path)
    await store.put("uploads/room.png", photo_png())
    handler = RedesignHandler(rig.settings, redesigner, store)
    async with rig.worker(handlers={"redesign": handler}) as worker:
        assert {"kind": "redesign", "controls": ["lines", "depth"], "restyle": ["room"]} in worker.describe()
        request = await rig.enqueue(
            task="redesign", source_key="uploads/room.png", prompt="a japandi living room", controls=["lines", "depth"],
            long_side=96, steps=2, seed=4,
        )  # fmt: skip
        result = await rig.result(request.job_id, timeout=120)
    assert result.status == "succeeded", result.error
    assert (result.width, result.height) == (96, 64)
    assert result.seed == 4
    assert result.control is not None
    assert (result.control.width, result.control.height) == (192, 64)
    control = Image.open(io.BytesIO(await store.get(result.control.key)))
    assert control.size == (192, 64)
    lines = redesigner.detectors["lines"].detect(Image.open(io.BytesIO(photo_png())).convert("RGB"))
    assert (np.asarray(control.convert("RGB"))[:, :96] == np.asarray(lines.image)).all()  # what was kept, as computed
    assert Image.open(io.BytesIO(await store.get(result.control.thumb_key))).format == "WEBP"
    assert Image.open(io.BytesIO(await store.get(result.image_key))).size == (96, 64)
    events = await rig.events(request.job_id)
    assert [e.step for e in events if e.type == "progress"] == [1, 2]
    assert [e.type for e in events][-1] == "succeeded"


async def test_a_control_the_worker_lacks_fails_the_job_with_the_reason(rig, engine, tiny_models: Path) -> None:
    # The API refuses such jobs while workers report their offers; a job that slips through
    # (e.g. enqueued before a worker restarted with fewer models) fails with the field named.
    from housify_ai.redesign import RedesignHandler, build_redesigner
    from housify_ai.settings import AISettings
    from housify_common.storage import DirectoryStore

    only_lines = build_redesigner(
        AISettings(ai_diffusion_model="x", ai_controlnet_lines=str(tiny_models / "tiny-controlnet-lines")), engine
    )
    store = DirectoryStore(rig.settings.storage_path)
    await store.put("uploads/room.png", photo_png())
    async with rig.worker(handlers={"redesign": RedesignHandler(rig.settings, only_lines, store)}):
        request = await rig.enqueue(
            task="redesign", source_key="uploads/room.png", controls=["depth"], long_side=96, steps=1
        )
        result = await rig.result(request.job_id, timeout=60)
    assert result.status == "failed"
    assert result.error == "ValueError: controls: depth not offered here (offered: lines)"
