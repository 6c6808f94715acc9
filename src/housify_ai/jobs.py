"""The image job handler: inputs from storage, a diffusers run, outputs to storage, a run-log row.

Outputs go to ``images/<uuid>.png`` and ``thumbs/<uuid>.webp`` where the uuid
is derived from the job id (uuid5), so a retried job overwrites rather than
orphans its files. Jobs with ``watermark`` get the visible watermark
(:func:`housify_ai.imaging.apply_watermark`) before encoding.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from pathlib import Path

from housify_ai.contract import JobResult
from housify_ai.diffusion import DiffusionEngine, RunStats, latents_preview
from housify_ai.errors import JobCancelled
from housify_ai.imaging import apply_watermark, open_image, preview_b64
from housify_ai.settings import AISettings
from housify_ai.worker import JobContext
from housify_common.imaging import encode_png, make_thumbnail
from housify_common.storage import ImageStore, load_storage_settings, open_store, put_with_retry

log = logging.getLogger(__name__)

_OUTPUT_NAMESPACE = uuid.UUID("5d3b0e55-3f0c-4c6e-9b8e-6f1b0a7c2d41")


def output_keys(job_id: str) -> tuple[str, str]:
    """Storage keys (image PNG, thumbnail WebP) of a job's output."""
    name = uuid.uuid5(_OUTPUT_NAMESPACE, job_id)
    return f"images/{name}.png", f"thumbs/{name}.webp"


class ImageJobHandler:
    """Runs :class:`~housify_ai.contract.JobRequest` s on a :class:`DiffusionEngine`."""

    def __init__(self, settings: AISettings, engine: DiffusionEngine, store: ImageStore) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store
        self._run_log_warned = False

    @classmethod
    async def create(cls, settings: AISettings) -> ImageJobHandler:
        """Load the diffusion model in a thread (``ModelLoadError`` when the folder is missing or broken).

        The image store is the one ``HOUSIFY_STORAGE_URL`` names, else ``settings.storage_path``
        (``SettingsError`` for a bad URL).
        """
        store = open_store(load_storage_settings(), default_dir=settings.storage_path)
        engine = await asyncio.to_thread(DiffusionEngine, Path(settings.diffusion_model_path), settings.ai_device, settings.ai_dtype)
        return cls(settings, engine, store)

    def describe(self) -> list[dict]:
        return [self.engine.describe()]

    async def __call__(self, ctx: JobContext) -> JobResult:
        request = ctx.request
        size = (request.width, request.height)
        source = mask = None
        if request.source_key:
            source = await self._load(request.source_key, "source_key", size, "RGB")
        if request.mask_key:
            mask = await self._load(request.mask_key, "mask_key", size, "L")

        every = self.settings.ai_preview_every or max(1, request.steps // 4)

        def on_step(step: int, total: int, latents) -> bool:
            preview = preview_b64(latents_preview(latents)) if step % every == 0 and step < total else None
            return ctx.progress_from_thread(step, total, preview)

        stats = RunStats(0.0, 0)
        outcome, error = "failed", ""
        try:
            image, stats = await asyncio.to_thread(self.engine.run, request, ctx.seed, on_step, source, mask)
            outcome = "succeeded"
        except JobCancelled:
            outcome = "cancelled"
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            await self._log_run(ctx, stats, outcome, error)

        if request.watermark:
            image = apply_watermark(image, self.settings.ai_watermark_text)
        image_key, thumb_key = output_keys(request.job_id)
        png, thumb = await asyncio.to_thread(lambda: (encode_png(image), make_thumbnail(image)))
        # a finished picture survives a short store outage: retried for a minute while the claim is kept alive
        await put_with_retry(self.store, image_key, png)
        await put_with_retry(self.store, thumb_key, thumb)
        return JobResult(
            job_id=request.job_id,
            status="succeeded",
            image_key=image_key,
            thumb_key=thumb_key,
            width=image.width,
            height=image.height,
            seed=ctx.seed,
            started_at=ctx.started_at,
            finished_at=time.time(),
            seconds=stats.seconds,
            device=str(self.engine.device),
            model=self.engine.name,
            watermarked=request.watermark,
        )

    async def _load(self, key: str, field: str, size: tuple[int, int], mode: str):  # noqa: ANN202 - PIL image
        """The stored image ``key`` resized to ``size``; ``ValueError`` naming ``field`` when absent or unreadable."""
        try:
            data = await self.store.get(key)
        except FileNotFoundError:
            raise ValueError(f"{field}: no stored image {key!r}") from None
        try:
            return await asyncio.to_thread(open_image, data, size, mode)
        except ValueError as exc:
            raise ValueError(f"{field}: {exc}") from None

    async def _log_run(self, ctx: JobContext, stats: RunStats, outcome: str, error: str) -> None:
        if not self.settings.ai_run_log:
            return
        from housify_ai.tables import InferenceRun

        request = ctx.request
        try:
            await InferenceRun.insert(
                InferenceRun(
                    job_id=request.job_id,
                    model=self.engine.name,
                    task=request.task,
                    width=request.width,
                    height=request.height,
                    steps=request.steps,
                    device=str(self.engine.device),
                    dtype=str(self.engine.dtype).removeprefix("torch."),
                    seconds=stats.seconds,
                    peak_memory_bytes=stats.peak_memory_bytes,
                    outcome=outcome,
                    error=error[:2000],
                    worker=self.settings.consumer_name[:128],
                    created_at=dt.datetime.now(dt.timezone.utc),
                )
            )
        except Exception as exc:  # the log must not fail a job
            if not self._run_log_warned:
                log.warning("cannot write the inference-run log (%s); jobs continue", exc)
                self._run_log_warned = True
