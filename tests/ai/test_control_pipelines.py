"""ControlNet pipelines over the shared base model, the redesign run, and the models an
operator brings (SDXL, LoRA adapters), on tiny random models built offline."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec
import numpy as np
import pytest
from PIL import Image, ImageDraw

from housify_ai.errors import ModelLoadError
from housify_ai.tasks import RedesignParams


def never_stop(_step: int, _total: int, _latents) -> bool:
    return False


def photo(offset: int = 0) -> Image.Image:
    image = Image.new("RGB", (96, 64), (210, 205, 195))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20 + offset, 10, 60 + offset, 50), outline=(10, 10, 10), width=2)
    draw.line((0, 58, 95, 58), fill=(40, 30, 20), width=2)
    return image


def params(**fields) -> RedesignParams:
    fields.setdefault("long_side", 96)
    fields.setdefault("steps", 2)
    return msgspec.convert(fields, RedesignParams)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


@pytest.fixture(scope="module")
def control_settings(tiny_models: Path):
    from housify_ai.settings import AISettings

    return AISettings(
        ai_diffusion_model="/srv/models/sd15",  # an operator's model: only what is named here is loaded
        ai_device="cpu",
        ai_controlnet_lines=str(tiny_models / "tiny-controlnet-lines"),
        ai_controlnet_depth=str(tiny_models / "tiny-controlnet-depth"),
        ai_controlnet_segmentation=str(tiny_models / "tiny-controlnet-segmentation"),
        ai_depth_model=str(tiny_models / "tiny-dpt"),
        ai_segmentation_model=str(tiny_models / "tiny-segformer"),
    )


@pytest.fixture(scope="module")
def redesigner(engine, control_settings):
    from housify_ai.redesign import build_redesigner

    return build_redesigner(control_settings, engine)


@pytest.mark.parametrize(("task", "cls"), [
    ("text2img", "StableDiffusionControlNetPipeline"),
    ("img2img", "StableDiffusionControlNetImg2ImgPipeline"),
    ("inpaint", "StableDiffusionControlNetInpaintPipeline"),
])  # fmt: skip
def test_controlnet_pipelines_reuse_the_base_modules(engine, redesigner, task: str, cls: str) -> None:
    from diffusers.models.controlnets import MultiControlNetModel

    for names in (["lines"], ["lines", "depth", "segmentation"]):
        controlnet = redesigner.controlnets.model_for(names)
        pipe = engine.pipeline_for(task, controlnet=controlnet)
        assert type(pipe).__name__ == cls
        assert isinstance(pipe.controlnet, MultiControlNetModel) == (len(names) > 1)
        for name in ("unet", "vae", "text_encoder", "tokenizer"):
            assert getattr(pipe, name) is getattr(engine.base, name), name  # same object: no second copy
        assert pipe.scheduler is not engine.base.scheduler
    plain = engine.pipeline_for(task)
    assert "ControlNet" not in type(plain).__name__
    assert plain.unet is engine.base.unet


def test_the_control_image_steers_the_picture(redesigner) -> None:
    run = redesigner.run
    a = run(photo(0), "a room", "", params(), 7, never_stop)
    again = run(photo(0), "a room", "", params(), 7, never_stop)
    moved = run(photo(20), "a room", "", params(), 7, never_stop)
    assert a.task == "text2img"
    assert a.image.size == (96, 64)
    assert a.control.size == (96, 64)
    assert (pixels(a.image) == pixels(again.image)).all()  # same photo, same seed: same picture
    assert np.abs(pixels(a.image) - pixels(moved.image)).mean() > 0.5  # the window moved: the picture changed
    assert (pixels(a.control) != pixels(moved.control)).any()


def test_conditioning_scale_and_guidance_window_reach_the_controlnet(redesigner) -> None:
    run = redesigner.run
    # With the ControlNet switched off — scale 0, or steering only in the first 10 % of
    # 2 steps (diffusers keeps a ControlNet for step i only if i/n >= start and (i+1)/n <= end) —
    # the photo no longer matters.
    for off in ({"controlnet_conditioning_scale": 0.0}, {"control_guidance_end": 0.1}):
        a = run(photo(0), "a room", "", params(**off), 3, never_stop)
        b = run(photo(20), "a room", "", params(**off), 3, never_stop)
        assert (pixels(a.image) == pixels(b.image)).all(), off
    on_a = run(photo(0), "a room", "", params(control_guidance_start=0.0, control_guidance_end=1.0), 3, never_stop)
    on_b = run(photo(20), "a room", "", params(control_guidance_start=0.0, control_guidance_end=1.0), 3, never_stop)
    assert (pixels(on_a.image) != pixels(on_b.image)).any()


def test_several_controls_run_as_one_multicontrolnet_and_show_side_by_side(redesigner) -> None:
    out = redesigner.run(
        photo(),
        "a room",
        "",
        params(controls=["lines", "depth"], controlnet_conditioning_scale=[1.0, 0.5]),
        1,
        never_stop,
    )
    assert out.image.size == (96, 64)
    assert out.control.size == (192, 64)
    left = pixels(out.control)[:, :96]
    assert (left == pixels(redesigner.detectors["lines"].detect(photo().resize((96, 64))).image)).all()


def test_restyle_furniture_inpaints_outside_the_kept_classes(redesigner) -> None:
    out = redesigner.run(photo(), "a room", "", params(restyle="furniture", controls=["lines"]), 1, never_stop)
    expected = redesigner.detectors["segmentation"].detect(photo()).mask
    assert out.task == "inpaint"
    assert out.mask is not None
    assert (np.asarray(out.mask) == np.asarray(expected)).all()


def test_strength_below_one_starts_from_the_photo(redesigner) -> None:
    steps_seen: list[int] = []

    def count(step: int, total: int, _latents) -> bool:
        steps_seen.append(total)
        return False

    out = redesigner.run(photo(), "a room", "", params(strength=0.5, steps=4), 1, count)
    assert out.task == "img2img"
    assert steps_seen == [2, 2]


def test_the_output_keeps_the_photos_aspect_ratio(redesigner) -> None:
    out = redesigner.run(Image.new("RGB", (600, 250), (90, 90, 90)), "a hall", "", params(long_side=160), 1, never_stop)
    assert out.image.size == (160, 64) == out.control.size  # 600 x 250 at 160 px: 66.7 -> 64


def test_a_control_not_loaded_is_refused_by_name(engine, control_settings) -> None:
    from housify_ai.redesign import build_redesigner

    only_lines = msgspec.structs.replace(
        control_settings, ai_controlnet_depth="", ai_depth_model="", ai_segmentation_model=""
    )
    redesigner = build_redesigner(only_lines, engine)
    assert redesigner.offered() == ("lines",)
    assert redesigner.restyles() == ("room",)
    with pytest.raises(ValueError, match=r"controls: depth not offered here \(offered: lines\)"):
        redesigner.check(params(controls=["lines", "depth"]))
    with pytest.raises(ValueError, match="restyle: furniture needs the segmentation model"):
        redesigner.check(params(restyle="furniture"))
    assert redesigner.describe()[0] == {"kind": "redesign", "controls": ["lines"], "restyle": ["room"]}


def test_the_embedded_tiny_model_brings_every_tiny_control(engine, tiny_models: Path) -> None:
    import importlib.util

    from housify_ai.redesign import build_redesigner
    from housify_ai.settings import AISettings

    redesigner = build_redesigner(AISettings(ai_diffusion_model=str(tiny_models / "tiny-sd")), engine)
    expected = (
        ("lines", "mlsd", "depth", "segmentation")
        if importlib.util.find_spec("controlnet_aux")
        else ("lines", "depth", "segmentation")
    )
    assert redesigner.offered() == expected
    assert redesigner.restyles() == ("room", "furniture")


@pytest.mark.parametrize("setting", ["ai_controlnet_lines", "ai_depth_model", "ai_segmentation_model"])
def test_a_set_but_missing_folder_fails_the_worker_at_start(
    engine, control_settings, tmp_path: Path, setting: str
) -> None:
    from housify_ai.redesign import build_redesigner

    broken = msgspec.structs.replace(control_settings, **{setting: str(tmp_path / "nowhere")})
    with pytest.raises(ModelLoadError, match=f"HOUSIFY_{setting.upper()}="):
        build_redesigner(broken, engine)


def test_a_controlnet_for_another_base_model_is_refused_at_start(engine, tmp_path: Path) -> None:
    from diffusers import ControlNetModel

    from housify_ai.controlnet import ControlNetBank

    ControlNetModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        cross_attention_dim=64,
        conditioning_embedding_out_channels=(8, 8, 8, 8),
    ).save_pretrained(str(tmp_path / "cn"))
    with pytest.raises(
        ModelLoadError, match=r"HOUSIFY_AI_CONTROLNET_DEPTH=.*cross_attention_dim 64 does not match .* 32"
    ):
        ControlNetBank({"depth": tmp_path / "cn"}, engine.base.unet, engine.device, engine.dtype)


# Models an operator brings ------------------------------------------------------------


@pytest.fixture(scope="module")
def operator_models(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from housify_ai.tiny_control import TINY_LORA_FILE, TINY_SDXL_DIR, build_tiny_lora, build_tiny_sdxl

    folder = tmp_path_factory.mktemp("operator")
    build_tiny_sdxl(folder / TINY_SDXL_DIR)
    build_tiny_lora(tiny_models / "tiny-sd", folder / "loras" / TINY_LORA_FILE)
    return folder


def test_an_sdxl_folder_is_read_as_sdxl_and_previews_with_its_latent_map(operator_models: Path) -> None:
    import torch

    from housify_ai.diffusion import DiffusionEngine, latents_preview

    engine = DiffusionEngine(operator_models / "tiny-sdxl", "cpu")
    described = engine.describe()
    assert described["family"] == "sdxl"
    assert described["pipeline"] == "StableDiffusionXLPipeline"
    assert type(engine.pipeline_for("img2img")).__name__ == "StableDiffusionXLImg2ImgPipeline"
    assert engine.pipeline_for("inpaint").text_encoder_2 is engine.base.text_encoder_2
    previews: list[Image.Image] = []

    def keep_preview(_step: int, _total: int, latents) -> bool:
        previews.append(engine.preview(latents))
        return False

    args = {"prompt": "a loft", "num_inference_steps": 2, "guidance_scale": 5.0, "width": 64, "height": 64}
    image, _ = engine.generate(engine.pipeline_for("text2img"), args, 1, keep_preview)
    assert image.size == (64, 64)
    assert [p.size for p in previews] == [(8, 8), (8, 8)]
    # One latent pixel (1, 0, 0, 0): SDXL's map gives (0.3651, 0.4232, 0.4341) + bias, SD 1.x's (0.298, 0.207, 0.208).
    unit = torch.zeros(1, 4, 1, 1)
    unit[0, 0] = 1.0
    assert latents_preview(unit, "sdxl").getpixel((0, 0)) == (187, 179, 182)  # (1 + factor + bias) x 127.5, truncated
    assert latents_preview(unit, "sd").getpixel((0, 0)) == (165, 153, 154)


def test_a_single_file_checkpoint_loads_with_a_local_config_and_draws_the_same(
    engine, tiny_models: Path, tmp_path: Path
) -> None:
    from ldm_checkpoint import write_ldm_checkpoint

    from housify_ai.diffusion import DiffusionEngine

    checkpoint = write_ldm_checkpoint(tiny_models / "tiny-sd", tmp_path / "my-finetune.safetensors")
    single = DiffusionEngine(checkpoint, "cpu", config=tiny_models / "tiny-sd")
    assert (single.name, single.family, single.describe()["pipeline"]) == (
        "my-finetune",
        "sd",
        "StableDiffusionPipeline",
    )
    args = {"prompt": "a sunlit attic", "num_inference_steps": 2, "guidance_scale": 7.5, "width": 64, "height": 64}
    ours = single.generate(single.pipeline_for("text2img"), args, 9, never_stop)[0]
    reference = engine.generate(engine.pipeline_for("text2img"), args, 9, never_stop)[0]
    assert (pixels(ours) == pixels(reference)).all()  # the same weights, read from the LDM layout


def test_sdxl_gets_its_controlnet_pipelines_and_refuses_an_sd15_controlnet(
    operator_models: Path, tiny_models: Path
) -> None:
    from diffusers import ControlNetModel

    from housify_ai.control.lines import LineDetector
    from housify_ai.controlnet import ControlNetBank
    from housify_ai.diffusion import DiffusionEngine
    from housify_ai.redesign import Redesigner

    engine = DiffusionEngine(operator_models / "tiny-sdxl", "cpu")
    folder = operator_models / "tiny-controlnet-sdxl"
    ControlNetModel.from_unet(engine.base.unet, conditioning_embedding_out_channels=(16, 16, 32, 32)).save_pretrained(
        str(folder)
    )
    bank = ControlNetBank({"lines": folder}, engine.base.unet, engine.device, engine.dtype)
    out = Redesigner(engine, bank, {"lines": LineDetector()}).run(photo(), "a loft", "", params(), 2, never_stop)
    assert out.task == "text2img" and out.image.size == (96, 64)
    pipe = engine.pipeline_for("img2img", controlnet=bank.model_for(["lines"]))
    assert type(pipe).__name__ == "StableDiffusionXLControlNetImg2ImgPipeline" and pipe.unet is engine.base.unet
    with pytest.raises(ModelLoadError, match=r"HOUSIFY_AI_CONTROLNET_LINES=.*does not match the diffusion model"):
        ControlNetBank({"lines": tiny_models / "tiny-controlnet-lines"}, engine.base.unet, engine.device, engine.dtype)


def test_a_9_channel_inpainting_model_only_inpaints(tiny_models: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from housify_ai.pipelines import read_model_info

    folder = tmp_path / "inpainting"
    shutil.copytree(tiny_models / "tiny-sd", folder)
    config = json.loads((folder / "unet" / "config.json").read_text())
    (folder / "unet" / "config.json").write_text(json.dumps({**config, "in_channels": 9}))
    info = read_model_info(folder)
    assert info.family == "sd"
    assert info.tasks == ("inpaint",)


def test_model_folders_that_are_not_sd_are_refused_with_the_setting(tmp_path: Path) -> None:
    from housify_ai.diffusion import DiffusionEngine

    (tmp_path / "model_index.json").write_text('{"_class_name": "FluxPipeline"}')
    with pytest.raises(ModelLoadError, match=r"HOUSIFY_AI_DIFFUSION_MODEL=.*FluxPipeline is not a Stable Diffusion"):
        DiffusionEngine(tmp_path, "cpu")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="single-file checkpoint: set HOUSIFY_AI_DIFFUSION_CONFIG"):
        DiffusionEngine(tmp_path / "model.safetensors", "cpu")


def test_lora_adapters_load_from_local_files_and_switch_per_job(tiny_models: Path, operator_models: Path) -> None:
    from housify_ai.diffusion import DiffusionEngine
    from housify_ai.pipelines import parse_loras

    lora = operator_models / "loras" / "tiny-lora.safetensors"
    engine = DiffusionEngine(tiny_models / "tiny-sd", "cpu", loras=parse_loras([f"watercolor={lora}@0.8"]))
    assert engine.describe()["loras"] == [{"name": "watercolor", "weight": 0.8, "levels": []}]
    args = {"prompt": "a kitchen", "num_inference_steps": 2, "guidance_scale": 7.5, "width": 64, "height": 64}

    def draw(adapter=None) -> np.ndarray:
        return pixels(engine.generate(engine.pipeline_for("text2img"), args, 5, never_stop, adapter)[0])

    plain = draw()
    styled = draw(("watercolor", 1.0))
    assert np.abs(plain - styled).mean() > 0.5
    assert (draw(("watercolor", 0.0)) == plain).all()  # weight 0 = no adapter
    assert (draw() == plain).all()  # the adapter is off again for the next job
    with pytest.raises(ValueError, match="lora: no adapter 'oil'"):
        engine.generate(engine.pipeline_for("text2img"), args, 5, never_stop, ("oil", 1.0))


async def test_a_job_picks_its_adapter_and_levels_are_kept_to(rig, tiny_models: Path, operator_models: Path) -> None:
    from housify_ai.diffusion import DiffusionEngine
    from housify_ai.jobs import ImageJobHandler
    from housify_ai.pipelines import parse_loras
    from housify_ai.tasks import get_task
    from housify_common.storage import DirectoryStore

    lora = operator_models / "loras" / "tiny-lora.safetensors"
    engine = DiffusionEngine(tiny_models / "tiny-sd", "cpu", loras=parse_loras([f"marble@Pro-Tier={lora}@0.9"]))
    spec = get_task("text2img")
    assert engine.lora_for(spec.parse_params({"lora": "marble"}), "Pro-Tier") == ("marble", 0.9)
    assert engine.lora_for(spec.parse_params({"lora": "marble", "lora_scale": 0.3}), "Pro-Tier") == ("marble", 0.3)
    assert engine.lora_for(spec.parse_params({}), "Free-Tier") is None
    store = DirectoryStore(rig.settings.storage_path)
    handler = ImageJobHandler(rig.settings, engine, store)
    async with rig.worker(handlers={"text2img": handler}):
        plain = await rig.enqueue(seed=2, steps=2, level="Pro-Tier")
        styled = await rig.enqueue(seed=2, steps=2, lora="marble", level="Pro-Tier")
        free = await rig.enqueue(seed=2, steps=2, lora="marble", level="Free-Tier")
        results = [await rig.result(r.job_id, timeout=60) for r in (plain, styled, free)]
    assert [r.status for r in results] == ["succeeded", "succeeded", "failed"]
    assert results[2].error == "ValueError: lora: adapter 'marble' is not offered to level Free-Tier"
    a, b = [pixels(Image.open(io.BytesIO(await store.get(r.image_key)))) for r in results[:2]]
    assert np.abs(a - b).mean() > 0.5


def test_the_api_side_rule_refuses_adapters_by_name_and_level() -> None:
    from housify_ai.tasks import get_task

    spec = get_task("img2img")
    workers = [
        {"models": [{"kind": "diffusion", "loras": [{"name": "marble", "weight": 0.9, "levels": ["Pro-Tier"]}]}]}
    ]
    spec.offered(spec.parse_params({"lora": "marble"}), workers, "Pro-Tier")
    spec.offered(spec.parse_params({}), workers, "Free-Tier")
    with pytest.raises(ValueError, match="lora: adapter 'marble' is not offered to your level"):
        spec.offered(spec.parse_params({"lora": "marble"}), workers, "Free-Tier")
    with pytest.raises(ValueError, match=r"lora: no adapter 'oil' on the AI workers \(offered: marble\)"):
        spec.offered(spec.parse_params({"lora": "oil"}), workers, "Pro-Tier")


def test_lora_settings_are_checked_at_start(tmp_path: Path) -> None:
    from housify_ai.pipelines import parse_loras

    (tmp_path / "a.safetensors").write_bytes(b"x")
    assert parse_loras([f"a={tmp_path}/a.safetensors", f"b-2={tmp_path}/a.safetensors@0.5"])[1].weight == 0.5
    assert parse_loras([f"c@Pro-Tier|Gold={tmp_path}/a.safetensors"])[0].levels == ("Pro-Tier", "Gold")
    for bad, why in [
        ("nameonly", "is not name"),
        (f"a={tmp_path}/missing.safetensors", "no such file"),
        (f"a={tmp_path}/a.safetensors@heavy", "not a number"),
    ]:
        with pytest.raises(ModelLoadError, match=f"HOUSIFY_AI_LORAS: .*{why}"):
            parse_loras([bad])
    with pytest.raises(ModelLoadError, match="given twice"):
        parse_loras([f"a={tmp_path}/a.safetensors", f"a={tmp_path}/a.safetensors"])
