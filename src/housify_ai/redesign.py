"""The ``redesign`` run: control maps of a photo, then a ControlNet pipeline over the shared base model.

:class:`Redesigner` holds what a worker loaded for it — the
:class:`~housify_ai.diffusion.DiffusionEngine`, a
:class:`~housify_ai.controlnet.ControlNetBank` and the control detectors — and
:meth:`Redesigner.run` turns (photo, prompt, :class:`RedesignParams`) into the
new picture plus the control image it kept (one map, or several side by side).

Which pipeline (all from ``from_pipe(base, controlnet=...)``):

* ``restyle="furniture"`` — ControlNet inpainting, the mask from the
  segmentation detector (white where no "keep" class is);
* ``strength < 1`` — ControlNet img2img from the photo;
* otherwise — ControlNet text2img: the structure comes from the controls alone.

:class:`RedesignHandler` is the task's worker-side handler (``housify_ai.tasks``
names it): the photo from storage, the run, the picture and its control image
(with a thumbnail) back to storage, ``JobResult.control`` set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec
from PIL import Image

from housify_ai.contract import JobResult, StoredImage
from housify_ai.control import CONTROLNET_FOR, ControlDetector, ControlMap
from housify_ai.controlnet import ControlNetBank
from housify_ai.diffusion import DiffusionEngine, RunStats, StepCallback, keep_unmasked, shared_engine
from housify_ai.jobs import ImageJobHandler
from housify_ai.outputs import load_input, open_output_store, output_keys, store_output
from housify_ai.settings import AISettings
from housify_ai.tasks import RedesignParams
from housify_ai.worker import JobContext
from housify_common.imaging import encode_png, make_thumbnail
from housify_common.storage import ImageStore, put_with_retry

DEFAULT_PROMPT = "a photo of a beautifully furnished room, interior design, natural light"
"""What a redesign draws when the job brings no prompt (room-type and style presets usually give one)."""


@dataclass(frozen=True)
class RedesignOutput:
    """The new picture, the control image shown to the user, the mask used (furniture restyle) and run figures."""

    image: Image.Image
    control: Image.Image
    mask: Image.Image | None
    stats: RunStats
    task: str


def control_sheet(maps: list[ControlMap]) -> Image.Image:
    """The control maps side by side (one map: itself), RGB."""
    if len(maps) == 1:
        return maps[0].image
    width = sum(m.image.width for m in maps)
    sheet = Image.new("RGB", (width, maps[0].image.height))
    x = 0
    for m in maps:
        sheet.paste(m.image, (x, 0))
        x += m.image.width
    return sheet


class Redesigner:
    """Runs redesigns; blocking (call :meth:`run` from a thread)."""

    def __init__(
        self, engine: DiffusionEngine, controlnets: ControlNetBank, detectors: Mapping[str, ControlDetector]
    ) -> None:
        self.engine = engine
        self.controlnets = controlnets
        self.detectors = dict(detectors)

    def offered(self) -> tuple[str, ...]:
        """Control kinds this worker can run: a detector and the ControlNet for its maps are both loaded."""
        return tuple(k for k in self.detectors if CONTROLNET_FOR[k] in self.controlnets.models)

    def restyles(self) -> tuple[str, ...]:
        """``room`` always; ``furniture`` when the segmentation detector (the mask) is loaded."""
        return ("room", "furniture") if "segmentation" in self.detectors else ("room",)

    def check(self, params: RedesignParams) -> None:
        """``ValueError`` naming the field when ``params`` asks for what this worker has not loaded."""
        missing = [k for k in params.controls if k not in self.offered()]
        if missing:
            raise ValueError(
                f"controls: {', '.join(missing)} not offered here (offered: {', '.join(self.offered()) or 'none'})"
            )
        if params.restyle not in self.restyles():
            raise ValueError("restyle: furniture needs the segmentation model (HOUSIFY_AI_SEGMENTATION_MODEL)")

    def run(
        self,
        source: Image.Image,
        prompt: str,
        negative_prompt: str,
        params: RedesignParams,
        seed: int,
        on_step: StepCallback,
        lora: tuple[str, float] | None = None,
    ) -> RedesignOutput:
        """Redesign ``source`` (any size; resized to :meth:`RedesignParams.size_for`).

        Raises:
            ValueError: naming the field (see :meth:`check`).
            JobCancelled, GpuOutOfMemory: as :meth:`DiffusionEngine.generate`.
        """
        self.check(params)
        width, height = params.size_for(source.size)
        photo = source.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        maps = [self.detectors[kind].detect(photo) for kind in params.controls]
        mask = None
        if params.restyle == "furniture":
            found = [m for m in maps if m.mask is not None]
            mask = (found[0] if found else self.detectors["segmentation"].detect(photo)).mask
        controlnet = self.controlnets.model_for([CONTROLNET_FOR[k] for k in params.controls])
        control_images = [m.image for m in maps] if len(maps) > 1 else maps[0].image
        scales = params.scales()
        args: dict[str, object] = {
            "prompt": prompt,
            "negative_prompt": negative_prompt or None,
            "num_inference_steps": params.steps,
            "guidance_scale": params.guidance_scale,
            "controlnet_conditioning_scale": scales if len(scales) > 1 else scales[0],
            "control_guidance_start": params.control_guidance_start,
            "control_guidance_end": params.control_guidance_end,
            "width": width,
            "height": height,
        }
        if mask is not None:
            task = "inpaint"
            args.update(image=photo, mask_image=mask, control_image=control_images, strength=params.strength)
        elif params.strength < 1.0:
            task = "img2img"
            args.update(image=photo, control_image=control_images, strength=params.strength)
        else:
            task = "text2img"
            args.update(image=control_images)
        pipe = self.engine.pipeline_for(task, controlnet=controlnet)
        image, stats = self.engine.generate(pipe, args, seed, on_step, lora)
        if mask is not None:  # "furniture only": walls, windows and floor stay the photo's own pixels
            image = keep_unmasked(photo, mask, image)
        return RedesignOutput(image=image, control=control_sheet(maps), mask=mask, stats=stats, task=task)

    def describe(self) -> list[dict[str, object]]:
        """The detectors and ControlNets, and what redesign offers, for ``GET /models``."""
        return [
            {"kind": "redesign", "controls": list(self.offered()), "restyle": list(self.restyles())},
            *self.controlnets.describe(),
            *(d.describe() for d in self.detectors.values()),
        ]


def build_redesigner(settings: AISettings, engine: DiffusionEngine) -> Redesigner:
    """Load the control models the settings name (``HOUSIFY_AI_CONTROLNET_*``, ``HOUSIFY_AI_MLSD_MODEL``,
    ``HOUSIFY_AI_DEPTH_MODEL``, ``HOUSIFY_AI_SEGMENTATION_MODEL``) for ``engine``'s base model.

    A setting left empty leaves its kind out (not offered; with the embedded
    tiny diffusion model the tiny control models are used when built). A
    setting naming a folder that is missing or does not load raises.

    Raises:
        ModelLoadError: naming the setting.
    """
    from housify_ai import tiny_control
    from housify_ai.control.depth import DepthDetector
    from housify_ai.control.lines import LineDetector
    from housify_ai.control.mlsd import MLSDLineDetector
    from housify_ai.control.segmentation import SegmentationDetector

    folders = {
        name: path
        for name, path in (
            (name, settings.control_path(f"ai_controlnet_{name}", sub))
            for name, sub in tiny_control.TINY_CONTROLNETS.items()
        )
        if path is not None
    }
    controlnets = ControlNetBank(folders, engine.base.unet, engine.device, engine.dtype)
    device = str(engine.device)
    detectors: dict[str, ControlDetector] = {"lines": LineDetector()}
    if (path := settings.control_path("ai_mlsd_model", tiny_control.TINY_MLSD_DIR)) is not None:
        detectors["mlsd"] = MLSDLineDetector(path, device)
    if (path := settings.control_path("ai_depth_model", tiny_control.TINY_DPT_DIR)) is not None:
        detectors["depth"] = DepthDetector(path, device)
    if (path := settings.control_path("ai_segmentation_model", tiny_control.TINY_SEGFORMER_DIR)) is not None:
        detectors["segmentation"] = SegmentationDetector(path, device, settings.ai_segmentation_keep)
    return Redesigner(engine, controlnets, detectors)


def control_keys(job_id: str) -> tuple[str, str]:
    """Storage keys (PNG, WebP thumbnail) of a redesign's control image, named after the job's output."""
    image_key, thumb_key = output_keys(job_id)
    return image_key.replace("images/", "controls/", 1), thumb_key.replace(".webp", "-control.webp")


class RedesignHandler(ImageJobHandler):
    """The ``redesign`` task's handler: the source photo from storage, a :class:`Redesigner` run,
    the picture and its control image (with a thumbnail) to storage (``JobResult.control``)."""

    def __init__(self, settings: AISettings, redesigner: Redesigner, store: ImageStore) -> None:
        super().__init__(settings, redesigner.engine, store)
        self.redesigner = redesigner

    @classmethod
    async def create(cls, settings: AISettings) -> RedesignHandler:
        """Share the process's diffusion engine and load the control models (``ModelLoadError`` naming the setting)."""
        engine = await asyncio.to_thread(shared_engine, settings)
        redesigner = await asyncio.to_thread(build_redesigner, settings, engine)
        return cls(settings, redesigner, open_output_store(settings))

    def describe(self) -> list[dict]:
        return self.redesigner.describe()

    async def __call__(self, ctx: JobContext) -> JobResult:
        request = ctx.request
        params: RedesignParams = request.options()
        self.redesigner.check(params)
        lora = self.engine.lora_for(params, request.level)
        assert request.source_key is not None  # the task requires a source (checked by the contract)
        source = await load_input(self.store, request.source_key, "source_key", None, "RGB")
        on_step = self.step_reporter(ctx, params.denoising_steps())
        prompt = request.prompt.strip() or DEFAULT_PROMPT
        out = await self.logged_run(
            ctx,
            lambda: (
                run := self.redesigner.run(source, prompt, request.negative_prompt, params, ctx.seed, on_step, lora),
                run.stats,
            ),
            size=params.size_for(source.size),
            steps=params.steps,
        )
        output = out[0]
        result = await store_output(
            ctx,
            self.store,
            self.settings,
            output.image,
            stats=output.stats,
            device=str(self.engine.device),
            model=self.engine.name,
        )
        key, thumb_key = control_keys(request.job_id)
        control = output.control
        png, thumb = await asyncio.to_thread(lambda: (encode_png(control), make_thumbnail(control)))
        await put_with_retry(self.store, key, png)  # a short store outage must not lose the finished run
        await put_with_retry(self.store, thumb_key, thumb)
        stored = StoredImage(key=key, thumb_key=thumb_key, width=control.width, height=control.height)
        return msgspec.structs.replace(result, control=stored)
