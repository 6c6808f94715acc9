"""diffusers pipelines: loaded once per process, shared by every task (docs/ai-server.md, "Models").

:class:`DiffusionEngine` loads the operator's model at start — a Stable
Diffusion 1.x/2.x or SDXL folder, or a single-file checkpoint, plus LoRA
adapters (:mod:`housify_ai.pipelines`); a missing or broken model raises
:class:`ModelLoadError` then, not at the first job. Every job gets its own
pipeline object from ``from_pipe`` (text2img, img2img, inpaint, and their
ControlNet variants), which reuses the very same UNet, VAE and text encoder
modules (no second copy of the weights) but has its own scheduler and step
state, so concurrent jobs do not share ``_interrupt`` or timesteps.
CUDA with float16 when present, CPU float32 otherwise; ``torch.inference_mode()``;
a seeded CPU ``torch.Generator`` so a seed gives the same picture on any device."""

from __future__ import annotations

import contextlib
import gc
import logging
import resource
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
from PIL import Image

from housify_ai.contract import JobRequest
from housify_ai.errors import GpuOutOfMemory, JobCancelled, ModelLoadError
from housify_ai.outputs import RunStats
from housify_ai.pipelines import LoraSpec, Pipeline, load_base_pipeline, load_loras, parse_loras
from housify_ai.settings import AISettings

if TYPE_CHECKING:
    from diffusers.models.controlnets.controlnet import ControlNetModel
    from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel

log = logging.getLogger(__name__)


class DenoisingState(Protocol):
    """The pipeline as its ``callback_on_step_end`` sees it."""

    num_timesteps: int
    _interrupt: bool


# Step callback: (step 1..n, n, latents) -> True to stop the job.
StepCallback = Callable[[int, int, torch.Tensor], bool]

# Latent -> RGB approximations, linear maps cheap enough for a preview every few
# steps (no VAE decode). SD 1.x/2.x: AUTOMATIC1111's "Approx cheap" factors.
# SDXL's VAE has another latent space: ComfyUI's SDXL factors and bias
# (comfy/latent_formats.py); the SD 1.x map would give wrong colours there.
_LATENT_RGB = torch.tensor(
    [[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]]
)
_LATENT_RGB_SDXL = torch.tensor(
    [[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]]
)
_LATENT_BIAS_SDXL = torch.tensor([0.1084, -0.0175, -0.0011])


def pick_device(preference: str) -> torch.device:
    """``cuda`` when asked for or (``auto``) available, else ``cpu``.

    Raises:
        ModelLoadError: ``cuda`` was asked for but torch sees no CUDA device.
    """
    if preference == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("HOUSIFY_AI_DEVICE=cuda but torch sees no CUDA device (CPU build of torch or no driver)")
    if preference in ("cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def pick_dtype(preference: str, device: torch.device) -> torch.dtype:
    """float16 on CUDA, float32 on CPU (half precision on CPU is slow or unsupported), unless set."""
    if preference != "auto":
        return getattr(torch, preference)
    return torch.float16 if device.type == "cuda" else torch.float32


def latents_preview(latents: torch.Tensor, family: str = "sd") -> Image.Image:
    """An RGB picture of the first latent in a batch, by the linear approximation of ``family`` (``sd``, ``sdxl``)."""
    sample = latents[0].detach().float().cpu()
    if sample.shape[0] != 4:  # not an SD/SDXL latent: show the first channel as grey
        grey = sample[0]
        rgb = torch.stack([grey, grey, grey], dim=-1)
    elif family == "sdxl":
        rgb = torch.einsum("chw,cr->hwr", sample, _LATENT_RGB_SDXL) + _LATENT_BIAS_SDXL
    else:
        rgb = torch.einsum("chw,cr->hwr", sample, _LATENT_RGB)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")


class DiffusionEngine:
    """One loaded Stable Diffusion / SDXL pipeline; :meth:`run` is blocking (call it from a thread).

    ``model_path`` is a diffusers folder or a single-file checkpoint (then
    ``config`` is its local diffusers config folder); ``loras`` are the LoRA
    adapters offered (:mod:`housify_ai.pipelines`).
    """

    def __init__(
        self,
        model_path: Path,
        device: str = "auto",
        dtype: str = "auto",
        *,
        config: Path | None = None,
        loras: list[LoraSpec] | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        pipe, self.info = load_base_pipeline(self.model_path, self.dtype, config)
        self.loras = {lora.name: lora for lora in loras or []}
        load_loras(pipe, list(self.loras.values()))
        pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        self.base = pipe
        self.family = self.info.family
        self.tasks = self.info.tasks
        self.name = (
            self.model_path.name.removesuffix(self.model_path.suffix)
            if self.model_path.is_file()
            else self.model_path.name
        )
        modules = [c for c in pipe.components.values() if isinstance(c, torch.nn.Module)]
        self.parameter_bytes = sum(p.numel() * p.element_size() for m in modules for p in m.parameters())
        self._load_lock = threading.Lock()
        # LoRA adapters are switched on the shared UNet: runs with adapters loaded take turns.
        self._adapter_lock = threading.Lock() if self.loras else None

    def describe(self) -> dict[str, object]:
        """Model, family, tasks, adapters, device, dtype and parameter memory, for ``GET /models``."""
        return {
            "kind": "diffusion",
            "name": self.name,
            "path": str(self.model_path),
            "family": self.family,
            "pipeline": type(self.base).__name__,
            "tasks": list(self.tasks),
            "loras": [{"name": a.name, "weight": a.weight, "levels": list(a.levels)} for a in self.loras.values()],
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "parameter_bytes": self.parameter_bytes,
        }

    def pipeline_for(self, task: str, controlnet: ControlNetModel | MultiControlNetModel | None = None) -> Pipeline:
        """A fresh pipeline object for ``task`` over the shared modules, with its own scheduler.

        With ``controlnet`` (a ``ControlNetModel`` or ``MultiControlNetModel``)
        it is the family's ControlNet pipeline for the task. ``from_pipe``
        reuses the base's UNet, VAE and text encoders: no second copy.

        Raises:
            ValueError: ``task`` is one this model cannot run (a 9-channel inpainting model only inpaints).
        """
        from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

        if task not in self.tasks:
            raise ValueError(f"task: the diffusion model {self.name} runs only {', '.join(self.tasks)}")
        cls = {
            "text2img": AutoPipelineForText2Image,
            "img2img": AutoPipelineForImage2Image,
            "inpaint": AutoPipelineForInpainting,
        }[task]
        scheduler = type(self.base.scheduler).from_config(self.base.scheduler.config)
        extra = {"controlnet": controlnet} if controlnet is not None else {}
        with self._load_lock:
            pipe: Pipeline = cls.from_pipe(self.base, scheduler=scheduler, **extra)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def lora_for(self, params: object, level: str) -> tuple[str, float] | None:
        """(adapter, weight) a job's ``lora`` / ``lora_scale`` ask for, None for none.

        Raises:
            ValueError: naming ``lora`` for an adapter this worker lacks or does not offer to ``level``.
        """
        name = getattr(params, "lora", None)
        if name is None:
            return None
        adapter = self.loras.get(name)
        if adapter is None:
            raise ValueError(f"lora: no adapter {name!r} on this worker (offered: {', '.join(self.loras) or 'none'})")
        if adapter.levels and level not in adapter.levels:
            raise ValueError(f"lora: adapter {name!r} is not offered to level {level}")
        scale = getattr(params, "lora_scale", None)
        return name, adapter.weight if scale is None else float(scale)

    def preview(self, latents: torch.Tensor) -> Image.Image:
        """:func:`latents_preview` with this model's latent space."""
        return latents_preview(latents, self.family)

    def run(
        self,
        request: JobRequest,
        seed: int,
        on_step: StepCallback,
        source: Image.Image | None = None,
        mask: Image.Image | None = None,
    ) -> tuple[Image.Image, RunStats]:
        """Draw one picture for ``request`` (text2img, img2img, inpaint); see :meth:`generate`."""
        pipe = self.pipeline_for(request.task)
        params = request.options()  # housify_ai.tasks.TextToImageParams / ImageToImageParams
        args: dict[str, object] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_inference_steps": params.steps,
            "guidance_scale": params.guidance_scale,
        }
        if request.task == "text2img":
            args.update(width=params.width, height=params.height)
        else:
            args.update(image=source, strength=params.strength)
        if request.task == "inpaint":
            args.update(mask_image=mask, width=params.width, height=params.height)
        image, stats = self.generate(pipe, args, seed, on_step, self.lora_for(params, request.level))
        if request.task == "inpaint" and source is not None and mask is not None:
            image = keep_unmasked(source, mask, image)
        return image, stats

    def generate(
        self,
        pipe: Pipeline,
        args: dict[str, object],
        seed: int,
        on_step: StepCallback,
        lora: tuple[str, float] | None = None,
    ) -> tuple[Image.Image, RunStats]:
        """Call ``pipe(**args)`` with the seeded generator, the step callback and ``lora`` (adapter name, weight).

        ``on_step`` is called after every denoising step; when it returns True
        the loop stops (``pipe._interrupt``) and :class:`JobCancelled` is raised.

        Raises:
            JobCancelled: stopped by ``on_step``.
            GpuOutOfMemory: CUDA ran out of memory (memory has been released).
            ValueError: ``lora`` names no loaded adapter.
        """
        if lora is not None and lora[0] not in self.loras:
            raise ValueError(
                f"lora: no adapter {lora[0]!r} on this worker (offered: {', '.join(self.loras) or 'none'})"
            )
        stopped = False

        def callback(p: DenoisingState, step_index: int, _timestep: object, kwargs: dict[str, Any]) -> dict[str, Any]:
            nonlocal stopped
            if on_step(step_index + 1, p.num_timesteps, kwargs["latents"]):
                stopped = True
                p._interrupt = True  # diffusers' documented way to stop the denoising loop
            return kwargs

        args = {
            **args,
            "generator": torch.Generator("cpu").manual_seed(seed),
            "callback_on_step_end": callback,
            "callback_on_step_end_tensor_inputs": ["latents"],
            "output_type": "pil",
        }
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        started = time.perf_counter()
        try:
            with self._adapters(lora), torch.inference_mode():
                image = pipe(**args).images[0]
        except torch.OutOfMemoryError as exc:
            del pipe
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
            raise GpuOutOfMemory(
                f"out of GPU memory at {args.get('width', '?')}x{args.get('height', '?')}: {exc}"
            ) from exc
        seconds = time.perf_counter() - started
        if stopped:
            raise JobCancelled()
        if cuda:
            peak = torch.cuda.max_memory_allocated(self.device)
        else:  # process-wide high-water mark (Linux reports KiB)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return image, RunStats(seconds=seconds, peak_memory_bytes=peak)

    @contextlib.contextmanager
    def _adapters(self, lora: tuple[str, float] | None) -> Iterator[None]:
        """Hold the adapter lock and set the job's adapter (or none) on the shared UNet for one run."""
        if self._adapter_lock is None:
            yield
            return
        with self._adapter_lock:
            if lora is None:
                self.base.disable_lora()
            else:
                self.base.enable_lora()
                self.base.set_adapters([lora[0]], adapter_weights=[lora[1]])
            yield


_engines: dict[tuple[object, ...], DiffusionEngine] = {}
_engines_lock = threading.Lock()


def keep_unmasked(source: Image.Image, mask: Image.Image, image: Image.Image) -> Image.Image:
    """``image`` (the pipeline's output) with every pixel outside ``mask`` taken back from ``source``.

    Inpainting pipelines redraw the whole frame through the VAE, so "only the area I paint" would change
    everything else slightly (colour shifts, lost detail) — diffusers' inpainting guide recommends pasting
    the original back with :meth:`VaeImageProcessor.apply_overlay`. The mask (white = redraw) is feathered
    with :meth:`VaeImageProcessor.blur` for a soft seam, then limited to the painted area itself
    (pixelwise minimum with the mask), so the soft edge lies inside the painted area and every unpainted
    pixel is exactly the source's. Feather radius: 1/128 of the shorter side, at least 2 px (diffusers'
    default ``blur_factor`` is 4 at 512 px). All three images are brought to ``image``'s size.
    """
    from diffusers.image_processor import VaeImageProcessor
    from PIL import ImageChops

    size = image.size
    hard = mask.convert("L").resize(size, Image.Resampling.NEAREST).point(lambda v: 255 if v >= 128 else 0)
    soft = VaeImageProcessor.blur(hard, blur_factor=max(2, min(size) // 128))
    feathered = ImageChops.darker(soft, hard)
    original = source.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    return VaeImageProcessor().apply_overlay(feathered, original, image.convert("RGB"))


def shared_engine(settings: AISettings) -> DiffusionEngine:
    """The process's :class:`DiffusionEngine` for the settings' model, loaded on first use: every
    handler that draws (text2img/img2img/inpaint, redesign) shares one copy of the weights.

    Raises:
        ModelLoadError: naming the setting at fault.
    """
    key = (
        str(settings.diffusion_model_path),
        settings.ai_diffusion_config,
        settings.ai_device,
        settings.ai_dtype,
        tuple(settings.ai_loras),
    )
    with _engines_lock:
        if key not in _engines:
            _engines[key] = DiffusionEngine(
                settings.diffusion_model_path,
                settings.ai_device,
                settings.ai_dtype,
                config=Path(settings.ai_diffusion_config) if settings.ai_diffusion_config else None,
                loras=parse_loras(settings.ai_loras),
            )
        return _engines[key]
