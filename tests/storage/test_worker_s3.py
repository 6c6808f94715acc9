"""An AI worker process on the S3 store: it reads the upload from the bucket and writes its result there.

The API (in-process) and ``housify-ai worker`` (a subprocess, tiny models)
are given only the ``HOUSIFY_STORAGE_URL`` / ``HOUSIFY_S3_*`` settings: no
shared directory at all. upload -> img2img -> the result's bytes, streamed
by the API from the bucket.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from apikit import picture, upload
from e2e._ai import WorkerProcess
from testkit import free_port

from .conftest import s3_settings
from .seaweedfs import SeaweedFS
from .test_api import api

pytestmark = pytest.mark.slow


async def test_img2img_through_the_bucket(migrated_db: str, tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    models = tmp_path / "models"
    build = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "housify_ai.cli",
        "models",
        "build-tiny",
        str(models),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(build.communicate(), timeout=300)
    assert build.returncode == 0, out.decode()[-3000:]
    storage = s3_settings(seaweedfs, f"worker{free_port()}")
    prefix = os.environ["HOUSIFY_REDIS_PREFIX"] + f"w{free_port()}:"
    env = {
        **{k: v for k, v in os.environ.items() if k != "HOUSIFY_STORAGE_DIR"},
        "HOUSIFY_REDIS_PREFIX": prefix,
        "HOUSIFY_DATA_DIR": str(tmp_path / "ai"),  # no storage there: the bucket is the only store
        "HOUSIFY_STORAGE_URL": storage.storage_url,
        "HOUSIFY_S3_ENDPOINT_URL": storage.s3_endpoint_url,
        "HOUSIFY_S3_ACCESS_KEY_ID": storage.s3_access_key_id,
        "HOUSIFY_S3_SECRET_ACCESS_KEY": storage.s3_secret_access_key,
        "HOUSIFY_AI_DIFFUSION_MODEL": str(models / "tiny-sd"),
        "HOUSIFY_AI_DEVICE": "cpu",
        "HOUSIFY_AI_RUN_LOG": "false",
    }
    async with api(tmp_path / "api", storage, redis_prefix=prefix) as (server, http, accounts):
        services = server.app.state.services
        worker = WorkerProcess(env, f"s3-worker-{free_port()}", tmp_path / "worker.log")
        await worker.start(services.redis, services.media.queue.streams.workers())
        try:
            user = await accounts.user()
            photo = (await upload(http, user, picture(64, 64, "JPEG"))).json()
            job = await http.post(
                "/jobs",
                json={
                    "task": "img2img",
                    "source_image_id": photo["id"],
                    "prompt": "a brighter room",
                    "width": 64,
                    "height": 64,
                    "steps": 4,
                    "strength": 0.6,
                },
                headers=user.headers,
            )
            assert job.status_code == 202, job.text
            deadline = time.monotonic() + 180
            while (state := (await http.get(f"/jobs/{job.json()['id']}", headers=user.headers)).json())[
                "status"
            ] not in ("succeeded", "failed"):
                assert time.monotonic() < deadline, f"job still {state['status']}:\n{worker.log.read_text()[-3000:]}"
                await asyncio.sleep(0.3)
            assert state["status"] == "succeeded", f"{state.get('error')}\n{worker.log.read_text()[-3000:]}"
            content = await http.get(f"/images/{state['image_id']}/content", headers=user.headers)
            assert content.status_code == 200 and content.headers["content-type"] == "image/png"
            from housify_api.media.tables import Image

            row = await Image.select().where(Image.id == state["image_id"]).first()
            assert content.content == await services.media.store.get(row["storage_key"])
            assert row["size_bytes"] == len(content.content) + await services.media.store.stat(row["thumb_key"])
            assert not (tmp_path / "ai" / "storage").exists()  # nothing went to a directory
        finally:
            worker.stop()
