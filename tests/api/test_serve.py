"""``housify-api serve --server uvicorn|granian`` as a real process on this run's PostgreSQL and Redis:
lifespan start (``/ready``), a token round trip, WebSocket job events, and SIGTERM to the process
group (what systemd sends on stop) ending the lifespan (pool and Redis closed) and the process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from apikit import PASSWORD
from testkit import free_port

CLI = [sys.executable, "-m", "housify_api.cli"]


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
async def test_serve_lifespan_websocket_and_sigterm(server: str, tmp_path, migrated_db: str) -> None:  # noqa: ANN001
    env = {
        **os.environ,
        "HOUSIFY_DATA_DIR": str(tmp_path),
        "HOUSIFY_SMTP_HOST": "",
        "PICCOLO_CONF": "housify_api.piccolo_conf",
    }
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        command = [*CLI, "serve", "--server", server, "--port", str(port), "--log-level", "info"]
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: ASYNC220 - the server under test
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(300):
                assert proc.poll() is None, log.read_text()
                try:
                    if (await client.get("/ready")).status_code == 200:  # lifespan ran: pool, Redis, seeds
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"not ready:\n{log.read_text()}")
            email = f"serve-{server}-{port}@example.com"
            assert (await client.post("/auth/register", json={"email": email, "password": PASSWORD})).status_code == 201
            token = (
                await client.post(
                    "/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            me = await client.get("/users/me", headers=headers)
            assert me.status_code == 200
            assert me.json()["email"] == email
            assert me.headers["x-frame-options"] == "DENY"
            job = await client.post(
                "/jobs",
                json={"prompt": "a quiet attic bedroom", "width": 64, "height": 64, "steps": 4},
                headers=headers,
            )
            assert job.status_code == 202, job.text
        async with connect(
            f"ws://127.0.0.1:{port}/jobs/{job.json()['id']}/events", subprotocols=["bearer", token]
        ) as ws:
            assert ws.subprotocol == "bearer"
            assert json.loads(await ws.recv())["type"] == "queued"
        started = time.monotonic()
        # To the whole process group, as systemd's default KillMode=control-group does: granian's worker gets it too.
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(20)
        assert code in (0, -signal.SIGTERM), log.read_text()  # uvicorn re-raises the signal after a clean shutdown
        assert time.monotonic() - started < 15
        assert "lifespan shutdown complete" in log.read_text(), log.read_text()[-1500:]  # logged by app.lifespan
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
