"""The API on each store: upload and read back, serving through nginx's redirect, the store down.

Each test runs the real API (uvicorn on loopback, PostgreSQL, Redis) with
its store given as ``StorageSettings`` in the app's settings (the ``storage``
field of the settings tree).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from apikit import Accounts, picture, upload
from housify_api.settings import MediaSettings, load_api_settings
from housify_common.storage import StorageSettings
from testkit import AsgiServer, free_port

from .conftest import s3_settings
from .seaweedfs import SeaweedFS


@contextlib.asynccontextmanager
async def api(
    tmp: Path,
    storage: StorageSettings,
    *,
    accel_prefix: str = "",
    redis_prefix: str = "",
    media: MediaSettings | None = None,
) -> AsyncIterator[tuple[AsgiServer, httpx.AsyncClient, Accounts]]:
    """The API on ``storage``; ``accel_prefix`` = ``HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX`` (or all of ``media``);
    a Redis prefix of its own."""
    from housify_api.app import create_app

    redis_prefix = redis_prefix or os.environ["HOUSIFY_REDIS_PREFIX"] + f"st{free_port()}:"
    # from the environment (the session's PostgreSQL and Redis), with this test's store
    settings = load_api_settings(
        data_dir=str(tmp),
        redis_prefix=redis_prefix,
        ai_url=f"http://127.0.0.1:{free_port()}",
        storage=storage,
        media=media or MediaSettings(accel_redirect_prefix=accel_prefix),
    )
    server = AsgiServer(create_app(settings))
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            yield server, http, Accounts(server.app, http)
    finally:
        await server.stop()


def content(image: dict[str, Any], thumb: bool = False) -> str:
    """``GET /images/{id}/content``: the API clients' route, which checks access on every request."""
    return f"/images/{image['id']}/content" + ("?size=thumb" if thumb else "")


def storage_for(kind: str, tmp: Path, server: SeaweedFS | None) -> StorageSettings:
    if kind == "directory":
        return StorageSettings(storage_url=(tmp / "storage").as_uri())
    assert server is not None
    return s3_settings(server, f"api{free_port()}")


async def test_upload_then_content_is_the_stored_bytes(
    migrated_db: str, tmp_path: Path, kind: str, weed: SeaweedFS | None
) -> None:
    async with api(tmp_path, storage_for(kind, tmp_path, weed)) as (server, http, accounts):
        store = server.app.state.services.media.store
        assert store.url.startswith("s3://" if kind == "s3" else "file://")
        user = await accounts.user()
        created = await upload(http, user, picture(160, 120))
        assert created.status_code == 201, created.text
        image = created.json()
        row = await _row(image["id"])
        full = await http.get(content(image), headers=user.headers)
        assert full.status_code == 200 and full.headers["content-type"] == "image/png"
        assert full.content == await store.get(row["storage_key"])
        assert int(full.headers["content-length"]) == len(full.content)
        thumb = await http.get(content(image, thumb=True), headers=user.headers)
        assert thumb.status_code == 200 and thumb.content == await store.get(row["thumb_key"])
        assert (
            await http.get(content(image), headers={"If-None-Match": full.headers["etag"], **user.headers})
        ).status_code == 304
        other = await accounts.user()
        assert (await http.get(content(image), headers=other.headers)).status_code == 404  # private
        assert (await http.get(content(image))).status_code == 404
        assert (await http.delete(f"/images/{image['id']}", headers=user.headers)).status_code == 204
        assert await store.stat(row["storage_key"]) is None and await store.stat(row["thumb_key"]) is None


async def test_s3_content_is_an_accel_redirect_to_a_presigned_get(
    migrated_db: str, tmp_path: Path, seaweedfs: SeaweedFS
) -> None:
    async with api(tmp_path, s3_settings(seaweedfs, "accel"), accel_prefix="/_media_s3/") as (server, http, accounts):
        user = await accounts.user()
        image = (await upload(http, user, picture(100, 80))).json()
        row = await _row(image["id"])
        answer = await http.get(content(image), headers=user.headers)
        assert answer.status_code == 200 and answer.content == b""
        target = answer.headers["x-accel-redirect"]
        assert target.startswith(
            f"/_media_s3/housify-test/accel/{row['storage_key']}?X-Amz-Algorithm=AWS4-HMAC-SHA256&"
        )
        assert "X-Amz-Expires=60&" in target
        # nginx's internal location: prefix stripped, the rest proxied to the endpoint
        fetched = await http.get(seaweedfs.endpoint_url + target.removeprefix("/_media_s3"))
        assert fetched.status_code == 200
        assert fetched.content == await server.app.state.services.media.store.get(row["storage_key"])
        assert (await http.get(content(image), headers=(await accounts.user()).headers)).status_code == 404


async def test_directory_content_is_an_accel_redirect_to_the_key(migrated_db: str, tmp_path: Path) -> None:
    async with api(tmp_path, StorageSettings(storage_dir=str(tmp_path / "files")), accel_prefix="/_media/") as (
        _server,
        http,
        accounts,
    ):
        user = await accounts.user()
        image = (await upload(http, user)).json()
        answer = await http.get(content(image), headers=user.headers)
        assert answer.headers["x-accel-redirect"] == "/_media/" + (await _row(image["id"]))["storage_key"]
        assert (tmp_path / "files" / answer.headers["x-accel-redirect"].removeprefix("/_media/")).is_file()


async def test_store_down_answers_503_and_records_nothing(
    migrated_db: str, tmp_path: Path, kind: str, weed: SeaweedFS | None
) -> None:
    from housify_api.media.quota import used_bytes
    from housify_api.media.tables import Image

    storage = storage_for(kind, tmp_path, weed)
    if kind == "s3":  # the same bucket settings, but nothing listens at the endpoint
        storage = msgspec.structs.replace(
            storage, s3_endpoint_url=f"http://127.0.0.1:{free_port()}", s3_timeout_seconds=2.0
        )
    async with api(tmp_path, storage) as (server, http, accounts):
        user = await accounts.user()
        if kind == "directory":  # the mount goes away: a file where the directory was
            root = server.app.state.services.media.store.root
            root.rmdir()
            root.write_text("not mounted")
        started = time.monotonic()
        answer = await upload(http, user)
        assert answer.status_code == 503, answer.text
        assert answer.json()["detail"] == "image storage unavailable; try again shortly"
        assert answer.headers["retry-after"] == "5"
        assert time.monotonic() - started < 10
        assert await Image.count().where(Image.owner == user.id) == 0
        assert await used_bytes(user.id) == 0
        assert (await http.get("/images/", headers=user.headers)).json()["items"] == []


async def _row(image_id: Any) -> dict[str, Any]:
    from housify_api.media.tables import Image

    row = await Image.select().where(Image.id == image_id).first()
    assert row is not None
    return row


async def test_a_result_missing_from_the_store_fails_its_job(
    migrated_db: str, tmp_path: Path, kind: str, weed: SeaweedFS | None
) -> None:
    from housify_ai.contract import RESULT_FIELD, JobResult, encode

    async with api(tmp_path, storage_for(kind, tmp_path, weed)) as (server, http, accounts):
        services = server.app.state.services
        user = await accounts.user()
        jobs = [
            (
                await http.post(
                    "/jobs", json={"prompt": "a room", "width": 64, "height": 64, "steps": 2}, headers=user.headers
                )
            ).json()
            for _ in range(2)
        ]
        stored, missing = jobs
        await services.media.store.put(f"images/{stored['id']}.png", b"\x89PNG result")
        await services.media.store.put(f"thumbs/{stored['id']}.webp", b"RIFF thumb")
        for job in jobs:
            result = JobResult(
                job_id=job["id"],
                status="succeeded",
                image_key=f"images/{job['id']}.png",
                thumb_key=f"thumbs/{job['id']}.webp",
                width=64,
                height=64,
                finished_at=time.time(),
            )
            await services.redis.xadd(services.media.queue.streams.results(), {RESULT_FIELD: encode(result)})
        deadline = time.monotonic() + 30
        while True:
            states = [(await http.get(f"/jobs/{job['id']}", headers=user.headers)).json() for job in jobs]
            if all(s["status"] in ("succeeded", "failed") for s in states) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert states[0]["status"] == "succeeded"
        image = (await http.get(f"/images/{states[0]['image_id']}", headers=user.headers)).json()
        assert image["size_bytes"] == len(b"\x89PNG result") + len(b"RIFF thumb")  # sizes asked of the store
        assert states[1]["status"] == "failed" and states[1]["image_id"] is None
        assert (
            states[1]["error"]
            == f"result not in the image store: images/{missing['id']}.png, thumbs/{missing['id']}.webp"
        )
