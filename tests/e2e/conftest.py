"""The whole product over real processes: PostgreSQL, Redis, the API over HTTP/WebSocket,
an AI worker subprocess and the AI internal API subprocess on the tiny models.

Everything runs under its own Redis prefix (``<run prefix>e2e:``) so the
jobs the media tests leave queued never reach this worker.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from apikit import Accounts
from testkit import AsgiServer, free_port

from ._ai import E2E_PREFIX, WorkerProcess, ai_env


@pytest.fixture(scope="session")
def e2e_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("e2e")
    return {"root": root, "storage": root / "storage", "models": root / "models"}


@pytest.fixture(scope="session")
def tiny_models(e2e_dirs: dict[str, Path]) -> dict[str, Path]:
    """``housify-ai models build-tiny`` (the command users run), once per session."""
    subprocess.run(
        [sys.executable, "-m", "housify_ai.cli", "models", "build-tiny", str(e2e_dirs["models"])],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return {"sd": e2e_dirs["models"] / "tiny-sd", "gguf": e2e_dirs["models"] / "tiny-llama.gguf"}


@pytest.fixture(scope="session")
def ai_internal_api(e2e_dirs: dict[str, Path], tiny_models: dict[str, Path]) -> Iterator[str]:
    """``housify-ai serve`` (prompt assistant) on a loopback port."""
    port = free_port()
    log = e2e_dirs["root"] / "ai-serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "housify_ai.cli", "serve", "--port", str(port)],
        env=ai_env(e2e_dirs, tiny_models),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"AI internal API did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
async def e2e_server(migrated_db: str, e2e_dirs: dict[str, Path], ai_internal_api: str) -> AsyncIterator[AsgiServer]:
    from housify_api.app import create_app
    from housify_api.settings import load_api_settings

    settings = load_api_settings(
        data_dir=str(e2e_dirs["root"]),
        storage_dir=str(e2e_dirs["storage"]),
        redis_prefix=E2E_PREFIX,
        ai_url=ai_internal_api,
    )
    server = AsgiServer(create_app(settings))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="session")
async def worker(
    e2e_server: AsgiServer, e2e_dirs: dict[str, Path], tiny_models: dict[str, Path]
) -> AsyncIterator[WorkerProcess]:
    """One AI worker subprocess serving the e2e prefix (tests may stop and restart it)."""
    process = WorkerProcess(ai_env(e2e_dirs, tiny_models), "e2e-worker", e2e_dirs["root"] / "worker.log")
    await process.start(
        e2e_server.app.state.services.redis, e2e_server.app.state.services.media.queue.streams.workers()
    )
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
async def e2e_http(e2e_server: AsgiServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=e2e_server.base_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def e2e_accounts(e2e_server: AsgiServer, e2e_http: httpx.AsyncClient) -> Accounts:
    return Accounts(e2e_server.app, e2e_http)
