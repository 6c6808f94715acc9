"""The AI side of the e2e tests as real processes: ``housify-ai worker`` and its environment."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

E2E_PREFIX = os.environ["HOUSIFY_REDIS_PREFIX"] + "e2e:"


def ai_env(e2e_dirs: dict[str, Path], tiny_models: dict[str, Path], **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOUSIFY_REDIS_PREFIX": E2E_PREFIX,
        "HOUSIFY_STORAGE_DIR": str(e2e_dirs["storage"]),
        "HOUSIFY_AI_DIFFUSION_MODEL": str(tiny_models["sd"]),
        "HOUSIFY_AI_LLM_MODEL": str(tiny_models["gguf"]),
        "HOUSIFY_AI_LLM_MAX_TOKENS": "96",
        "HOUSIFY_AI_DEVICE": "cpu",
        "HOUSIFY_AI_VISIBILITY_TIMEOUT": "10",
        "HOUSIFY_DATA_DIR": str(e2e_dirs["root"]),
        **extra,
    }


class WorkerProcess:
    """``housify-ai worker`` as a subprocess; ready once its heartbeat is in Redis."""

    def __init__(self, env: dict[str, str], name: str, log: Path) -> None:
        self.env = {**env, "HOUSIFY_AI_CONSUMER": name}
        self.name = name
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, redis_client, workers_key: str) -> None:  # noqa: ANN001
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "housify_ai.cli", "worker"],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while not await redis_client.hexists(workers_key, self.name):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"AI worker did not start; see {self.log}:\n{self.log.read_text()[-3000:]}")
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
