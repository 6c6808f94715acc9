"""What every task handler does with its result: store it, describe it, log the run.

Outputs go to ``images/<uuid>.png`` and ``thumbs/<uuid>.webp`` where the uuid
is derived from the job id (uuid5), so a retried job overwrites rather than
orphans its files. Jobs with ``watermark`` get the visible watermark
(:func:`housify_ai.imaging.apply_watermark`) before encoding. Torch-free.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from housify_ai.contract import JobResult
from housify_ai.errors import JobCancelled
from housify_ai.imaging import apply_watermark, open_image
from housify_ai.settings import AISettings
from housify_common.imaging import encode_png, make_thumbnail
from housify_common.storage import ImageStore, load_storage_settings, open_store, put_with_retry

if TYPE_CHECKING:
    from PIL import Image

    from housify_ai.worker import JobContext

log = logging.getLogger(__name__)

#: What a logged run returns: a tuple whose last item is its :class:`RunStats`.
R = TypeVar("R", bound=tuple)

_OUTPUT_NAMESPACE = uuid.UUID("5d3b0e55-3f0c-4c6e-9b8e-6f1b0a7c2d41")


@dataclass(frozen=True)
class RunStats:
    """``seconds`` of inference; ``peak_memory_bytes`` (CUDA peak, or the process's RSS high-water mark on CPU)."""

    seconds: float
    peak_memory_bytes: int


def open_output_store(settings: AISettings) -> ImageStore:
    """The image store ``HOUSIFY_STORAGE_URL`` names, else ``settings.storage_path`` (``SettingsError`` for a bad URL)."""
    return open_store(load_storage_settings(), default_dir=settings.storage_path)


def output_keys(job_id: str) -> tuple[str, str]:
    """Storage keys (image PNG, thumbnail WebP) of a job's output."""
    name = uuid.uuid5(_OUTPUT_NAMESPACE, job_id)
    return f"images/{name}.png", f"thumbs/{name}.webp"


async def load_input(store: ImageStore, key: str, field: str, size: tuple[int, int] | None, mode: str) -> Image.Image:
    """The stored image ``key`` (resized to ``size`` unless None); ``ValueError`` naming ``field`` when absent or unreadable."""
    try:
        data = await store.get(key)
    except FileNotFoundError:
        raise ValueError(f"{field}: no stored image {key!r}") from None
    try:
        return await asyncio.to_thread(open_image, data, size, mode)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None


async def store_output(
    ctx: JobContext,
    store: ImageStore,
    settings: AISettings,
    image: Image.Image,
    *,
    stats: RunStats,
    device: str,
    model: str,
) -> JobResult:
    """Watermark (when the job asks), encode and store ``image`` and its thumbnail; the job's ``succeeded`` result."""
    request = ctx.request
    if request.watermark:
        image = apply_watermark(image, settings.ai_watermark_text)
    image_key, thumb_key = output_keys(request.job_id)
    png, thumb = await asyncio.to_thread(lambda: (encode_png(image), make_thumbnail(image)))
    # a finished picture survives a short store outage: retried for a minute while the claim is kept alive
    await put_with_retry(store, image_key, png)
    await put_with_retry(store, thumb_key, thumb)
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
        device=device,
        model=model,
        watermarked=request.watermark,
    )


class RunLog:
    """Writes one ``ai_inference_run`` row per run when ``HOUSIFY_AI_RUN_LOG`` is on; never fails a job."""

    def __init__(self, settings: AISettings) -> None:
        self.settings = settings
        self._warned = False

    async def run(
        self,
        ctx: JobContext,
        work: Callable[[], R],
        *,
        model: str,
        device: str,
        dtype: str,
        size: tuple[int, int],
        steps: int,
    ) -> R:
        """``work()`` in a thread (it returns ``(..., RunStats)``, the stats last), with one run-log row
        whatever the outcome: ``succeeded``, ``cancelled`` (:class:`JobCancelled`) or ``failed`` with the error."""
        return await self.run_async(
            ctx, lambda: asyncio.to_thread(work), model=model, device=device, dtype=dtype, size=size, steps=steps
        )

    async def run_async(
        self,
        ctx: JobContext,
        work: Callable[[], Awaitable[R]],
        *,
        model: str,
        device: str,
        dtype: str,
        size: tuple[int, int],
        steps: int,
    ) -> R:
        """:meth:`run` for work that is awaited itself (e.g. in a child process, :mod:`housify_ai.upscale`)."""
        stats = RunStats(0.0, 0)
        outcome, error = "failed", ""
        try:
            result = await work()
            stats = result[-1]
            outcome = "succeeded"
            return result
        except JobCancelled:
            outcome = "cancelled"
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            await self.write(
                ctx, model=model, device=device, dtype=dtype, size=size, steps=steps,
                stats=stats, outcome=outcome, error=error,
            )  # fmt: skip

    async def write(
        self,
        ctx: JobContext,
        *,
        model: str,
        device: str,
        dtype: str,
        size: tuple[int, int],
        steps: int,
        stats: RunStats,
        outcome: str,
        error: str,
    ) -> None:
        if not self.settings.ai_run_log:
            return
        from housify_ai.tables import InferenceRun

        request = ctx.request
        try:
            await InferenceRun.insert(
                InferenceRun(
                    job_id=request.job_id,
                    model=model,
                    task=request.task,
                    width=size[0],
                    height=size[1],
                    steps=steps,
                    device=device,
                    dtype=dtype,
                    seconds=stats.seconds,
                    peak_memory_bytes=stats.peak_memory_bytes,
                    outcome=outcome,
                    error=error[:2000],
                    worker=self.settings.consumer_name[:128],
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
        except Exception as exc:  # noqa: BLE001 - the log must not fail a job
            if not self._warned:
                log.warning("cannot write the inference-run log (%s); jobs continue", exc)
                self._warned = True
