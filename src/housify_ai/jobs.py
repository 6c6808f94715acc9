"""The diffusion task handler (``text2img``, ``img2img``, ``inpaint``): inputs from storage, a diffusers run,
outputs to storage (:mod:`housify_ai.outputs`), a run-log row."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from housify_ai.contract import JobResult
from housify_ai.diffusion import DiffusionEngine, shared_engine
from housify_ai.imaging import preview_b64
from housify_ai.outputs import R, RunLog, load_input, open_output_store, output_keys, store_output
from housify_ai.settings import AISettings
from housify_ai.worker import JobContext
from housify_common.storage import ImageStore

__all__ = ["ImageJobHandler", "output_keys"]


class ImageJobHandler:
    """Runs diffusion :class:`~housify_ai.contract.JobRequest` s on a :class:`DiffusionEngine`.

    The source and mask are resized to the job's ``width`` x ``height``.
    """

    def __init__(self, settings: AISettings, engine: DiffusionEngine, store: ImageStore) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self.run_log = RunLog(settings)

    @classmethod
    async def create(cls, settings: AISettings) -> ImageJobHandler:
        """Load the diffusion model in a thread (``ModelLoadError`` when the folder is missing or broken).

        The image store is :func:`housify_ai.outputs.open_output_store`'s (``SettingsError`` for a bad URL).
        """
        store = open_output_store(settings)
        engine = await asyncio.to_thread(shared_engine, settings)  # one per process, shared with the redesign handler
        return cls(settings, engine, store)

    def describe(self) -> list[dict]:
        return [self.engine.describe()]

    async def __call__(self, ctx: JobContext) -> JobResult:
        request = ctx.request
        params = request.options()
        size = (params.width, params.height)
        source = mask = None
        if request.source_key:
            source = await load_input(self.store, request.source_key, "source_key", size, "RGB")
        if request.mask_key:
            mask = await load_input(self.store, request.mask_key, "mask_key", size, "L")
        on_step = self.step_reporter(ctx, params.steps)
        image, stats = await self.logged_run(
            ctx, lambda: self.engine.run(request, ctx.seed, on_step, source, mask), size=size, steps=params.steps
        )
        return await store_output(
            ctx, self.store, self.settings, image, stats=stats, device=str(self.engine.device), model=self.engine.name
        )

    def step_reporter(self, ctx: JobContext, steps: int) -> Callable[[int, int, Any], bool]:
        """The engine's step callback: ``progress`` every step, a ``preview`` (in the model's latent colours) about four times."""
        every = self.settings.ai_preview_every or max(1, steps // 4)

        def on_step(step: int, total: int, latents: Any) -> bool:
            preview = preview_b64(self.engine.preview(latents)) if step % every == 0 and step < total else None
            return ctx.progress_from_thread(step, total, preview)

        return on_step

    async def logged_run(self, ctx: JobContext, run: Callable[[], R], *, size: tuple[int, int], steps: int) -> R:
        """``run()`` in a thread (it returns ``(..., RunStats)`` last), with one run-log row whatever the outcome."""
        return await self.run_log.run(
            ctx,
            run,
            model=self.engine.name,
            device=str(self.engine.device),
            dtype=str(self.engine.dtype).removeprefix("torch."),
            size=size,
            steps=steps,
        )
