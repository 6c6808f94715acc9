"""Decoding uploads out of the API's process, under a memory cap and a time limit (issue 21 item 3).

:func:`housify_api.media.uploads.clean_upload` decodes every pixel of an
upload. In a thread of the API process, one hostile file could take all of the
process's memory and hold the GIL for seconds (a 94 KiB PNG of 1 x 50,000,000
pixels: 1.4 GB and 9.5 s; three in parallel stalled ``/health`` 4 s). Here it
runs in a small pool of worker processes (``spawn``: nothing of the API's state
is inherited), each limited with ``RLIMIT_AS`` (POSIX ``setrlimit``) to
``memory_mb`` of address space, so a decode that needs more fails with
``MemoryError`` inside the worker (answered 413) instead of growing the API.
A decode that takes longer than ``timeout`` seconds is answered 413 and its
worker is killed; a worker that dies is replaced (the answer is 422).

OWASP ASVS 4.0 §12.1.1 (no file that can cause a denial of service) and
§12.1.2 (check decompressed size before decompressing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from housify_api.media.uploads import CleanImage, UploadRejected, clean_upload

log = logging.getLogger("housify.media.decoder")


def _limit_memory(memory_mb: int) -> None:
    """Worker initializer: cap this process's address space (Linux; elsewhere a no-op)."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _decode(data: bytes, memory_mb: int, limits: dict[str, Any]) -> CleanImage:
    try:
        return clean_upload(data, **limits)
    except MemoryError:
        raise UploadRejected(
            413, f"file: decoding this image needs more than the {memory_mb} MiB allowed per upload"
        ) from None


class Decoder:
    """The pool of decoding processes of one API process (made on first use).

    Args:
        workers: processes (uploads decoded at once; more wait).
        memory_mb: address-space cap of each process.
        timeout: seconds one decode may take.
    """

    def __init__(self, *, workers: int, memory_mb: int, timeout: float) -> None:
        self.workers, self.memory_mb, self.timeout = workers, memory_mb, timeout
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_limit_memory,
                initargs=(self.memory_mb,),
            )
        return self._pool

    async def clean(self, data: bytes, **limits: Any) -> CleanImage:
        """:func:`clean_upload` of ``data`` in a worker process (``limits``: its keyword arguments).

        Raises:
            UploadRejected: as ``clean_upload``; 413 over the memory cap or the time limit; 422 when the
                worker died while decoding.
        """
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor(), _decode, data, self.memory_mb, limits)
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            log.warning("upload decoding took over %.0f s; its worker is killed", self.timeout)
            self._reset(kill=True)
            raise UploadRejected(413, f"file: decoding this image takes longer than {self.timeout:g} s") from None
        except BrokenProcessPool:
            log.warning("an upload's decoding worker died; the pool is restarted")
            self._reset(kill=True)
            raise UploadRejected(422, "file: the image could not be decoded within the limits") from None

    def _reset(self, *, kill: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(Exception):
                    process.kill()
        pool.shutdown(wait=not kill, cancel_futures=True)

    def close(self) -> None:
        """Stop the processes (after the decodes in progress)."""
        self._reset(kill=False)
