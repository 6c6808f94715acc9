"""diffusers pipelines: loaded once per process, shared by text2img, img2img and inpaint (docs/ai-server.md, "Models").

:class:`DiffusionEngine` loads a Stable Diffusion folder with
``AutoPipelineForText2Image`` at start (a missing or broken folder raises
:class:`ModelLoadError` then, not at the first job). Every job gets its own
pipeline object from ``from_pipe``, which reuses the very same UNet, VAE and
text encoder modules (no second copy of the weights) but has its own scheduler
and step state, so concurrent jobs do not share ``_interrupt`` or timesteps.
CUDA with float16 when present, CPU float32 otherwise; ``torch.inference_mode()``;
a seeded CPU ``torch.Generator`` so a seed gives the same picture on any device.
"""

from __future__ import annotations

import gc
import logging
import resource
import threading
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from housify_ai.contract import JobRequest
from housify_ai.errors import GpuOutOfMemory, JobCancelled, ModelLoadError
from housify_ai.outputs import RunStats

log = logging.getLogger(__name__)

# Step callback: (step 1..n, n, latents) -> True to stop the job.
StepCallback = Callable[[int, int, torch.Tensor], bool]

# Stable Diffusion 1.x latent -> RGB approximation, a linear map that is cheap
# enough for a preview at every few steps (no VAE decode); the widely used
# factors of AUTOMATIC1111's "Approx cheap" preview.
_LATENT_RGB = torch.tensor(
    [[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]]
)


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


def latents_preview(latents: torch.Tensor) -> Image.Image:
    """An RGB picture of the first latent in a batch, by the linear approximation above."""
    sample = latents[0].detach().float().cpu()
    if sample.shape[0] != 4:  # not an SD 1.x/2.x latent: show the first channel as grey
        grey = sample[0]
        rgb = torch.stack([grey, grey, grey], dim=-1)
    else:
        rgb = torch.einsum("chw,cr->hwr", sample, _LATENT_RGB)
    rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(rgb, "RGB")


class DiffusionEngine:
    """One loaded Stable Diffusion pipeline; :meth:`run` is blocking (call it from a thread)."""

    def __init__(self, model_path: Path, device: str = "auto", dtype: str = "auto") -> None:
        from diffusers import AutoPipelineForText2Image

        self.model_path = Path(model_path)
        if not (self.model_path / "model_index.json").is_file():
            raise ModelLoadError(
                f"HOUSIFY_AI_DIFFUSION_MODEL={self.model_path}: not a diffusers pipeline folder "
                "(no model_index.json); run `housify-ai models build-tiny DIR` or `housify-ai models pull`"
            )
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(str(self.model_path), dtype=self.dtype, local_files_only=True)
            pipe.to(self.device)
        except Exception as exc:  # corrupt weights, wrong config, missing component...
            raise ModelLoadError(f"HOUSIFY_AI_DIFFUSION_MODEL={self.model_path}: cannot load the pipeline: {exc}") from exc
        pipe.set_progress_bar_config(disable=True)
        self.base = pipe
        self.name = self.model_path.name
        modules = [c for c in pipe.components.values() if isinstance(c, torch.nn.Module)]
        self.parameter_bytes = sum(p.numel() * p.element_size() for m in modules for p in m.parameters())
        self._load_lock = threading.Lock()

    def describe(self) -> dict[str, object]:
        """Model, device, dtype and parameter memory, for ``GET /models`` and the worker registry."""
        return {
            "kind": "diffusion",
            "name": self.name,
            "path": str(self.model_path),
            "pipeline": type(self.base).__name__,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "parameter_bytes": self.parameter_bytes,
        }

    def pipeline_for(self, task: str):  # noqa: ANN201 - a diffusers pipeline
        """A fresh pipeline object for ``task`` over the shared modules, with its own scheduler."""
        from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

        cls = {"text2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image, "inpaint": AutoPipelineForInpainting}[task]
        scheduler = type(self.base.scheduler).from_config(self.base.scheduler.config)
        with self._load_lock:
            pipe = cls.from_pipe(self.base, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def run(
        self,
        request: JobRequest,
        seed: int,
        on_step: StepCallback,
        source: Image.Image | None = None,
        mask: Image.Image | None = None,
    ) -> tuple[Image.Image, RunStats]:
        """Draw one picture for ``request``.

        ``on_step`` is called after every denoising step; when it returns True
        the loop stops (``pipe._interrupt``) and :class:`JobCancelled` is raised.

        Raises:
            JobCancelled: stopped by ``on_step``.
            GpuOutOfMemory: CUDA ran out of memory (memory has been released).
        """
        import time

        pipe = self.pipeline_for(request.task)
        params = request.options()  # TextToImageParams / ImageToImageParams
        stopped = False

        def callback(p, step_index: int, _timestep, kwargs: dict) -> dict:
            nonlocal stopped
            if on_step(step_index + 1, p.num_timesteps, kwargs["latents"]):
                stopped = True
                p._interrupt = True  # diffusers' documented way to stop the denoising loop
            return kwargs

        args: dict[str, object] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_inference_steps": params.steps,
            "guidance_scale": params.guidance_scale,
            "generator": torch.Generator("cpu").manual_seed(seed),
            "callback_on_step_end": callback,
            "callback_on_step_end_tensor_inputs": ["latents"],
            "output_type": "pil",
        }
        if request.task == "text2img":
            args.update(width=params.width, height=params.height)
        else:
            args.update(image=source, strength=params.strength)
        if request.task == "inpaint":
            args.update(mask_image=mask, width=params.width, height=params.height)

        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(self.device)
        started = time.perf_counter()
        try:
            with torch.inference_mode():
                image = pipe(**args).images[0]
        except torch.OutOfMemoryError as exc:
            del pipe
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
            raise GpuOutOfMemory(f"out of GPU memory at {params.width}x{params.height}: {exc}") from exc
        seconds = time.perf_counter() - started
        if stopped:
            raise JobCancelled()
        if cuda:
            peak = torch.cuda.max_memory_allocated(self.device)
        else:  # process-wide high-water mark (Linux reports KiB)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return image, RunStats(seconds=seconds, peak_memory_bytes=peak)
