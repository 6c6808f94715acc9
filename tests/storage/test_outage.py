"""The S3 store going away and coming back, with no restart of the API.

The API reaches SeaweedFS through a TCP relay the test can cut (every
connection dropped, new ones refused) and restore on the same port: the S3
server itself keeps running, as when a network link or the store's host goes down.
While cut: uploads and reads answer 503, uploads record nothing; a worker's result waits
(pending in Redis). Restored: uploads work, the result is recorded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import msgspec
import pytest

from apikit import picture, upload
from housify_ai.contract import RESULT_FIELD, JobResult, encode
from testkit import free_port

from .conftest import s3_settings, s3_store
from .seaweedfs import SeaweedFS
from .test_api import api


class Relay:
    """``127.0.0.1:<port>`` -> ``target``; :meth:`cut` drops every connection and stops listening, :meth:`restore` listens again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def test_store_cut_and_restored_without_restarting_the_api(
    migrated_db: str, tmp_path: Path, seaweedfs: SeaweedFS
) -> None:
    from housify_api.media.quota import used_bytes
    from housify_api.media.tables import Image

    relay = Relay("127.0.0.1", seaweedfs.s3_port)
    await relay.restore()
    prefix = f"outage{free_port()}"
    storage = msgspec.structs.replace(
        s3_settings(seaweedfs, prefix), s3_endpoint_url=f"http://127.0.0.1:{relay.port}", s3_timeout_seconds=2.0
    )
    direct = s3_store(seaweedfs, prefix)  # the worker's view: the bucket itself, not through the relay
    async with api(tmp_path, storage) as (server, http, accounts):
        services = server.app.state.services
        user = await accounts.user()
        first = await upload(http, user)
        assert first.status_code == 201  # works through the relay
        job = (
            await http.post(
                "/jobs", json={"prompt": "a room", "width": 64, "height": 64, "steps": 2}, headers=user.headers
            )
        ).json()

        await relay.cut()
        started = time.monotonic()
        refused = await upload(http, user, picture(80, 60))
        assert refused.status_code == 503 and time.monotonic() - started < 10, refused.text
        assert await Image.count().where(Image.owner == user.id) == 1
        charged = await used_bytes(user.id)
        unreadable = await http.get(first.json()["url"], headers=user.headers)  # streamed by the API (no nginx here)
        assert (
            unreadable.status_code == 503
            and unreadable.json()["detail"] == "image storage unavailable; try again shortly"
        )

        # a worker stored its result and reported it while the API cannot reach the store
        await direct.put(f"images/{job['id']}.png", b"\x89PNG the result")
        await direct.put(f"thumbs/{job['id']}.webp", b"RIFF thumb")
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
        await asyncio.sleep(2.0)
        waiting = (await http.get(f"/jobs/{job['id']}", headers=user.headers)).json()
        assert waiting["status"] == "queued" and waiting["image_id"] is None  # not recorded, not failed: pending

        await relay.restore()
        deadline = time.monotonic() + 30
        while (state := (await http.get(f"/jobs/{job['id']}", headers=user.headers)).json())["status"] != "succeeded":
            assert time.monotonic() < deadline, state
            await asyncio.sleep(0.2)
        assert await Image.count().where(Image.owner == user.id) == 2
        assert await used_bytes(user.id) == charged + len(b"\x89PNG the result") + len(b"RIFF thumb")
        assert (await upload(http, user, picture(80, 60))).status_code == 201
        content = await http.get(f"/images/{state['image_id']}/content", headers=user.headers)
        assert content.status_code == 200 and content.content == b"\x89PNG the result"
    await relay.cut()


async def test_put_with_retry_outlasts_a_short_outage_and_gives_up_after_its_bound(seaweedfs: SeaweedFS) -> None:
    from housify_common.storage import S3Store, StorageUnavailable, put_with_retry

    relay = Relay("127.0.0.1", seaweedfs.s3_port)
    await relay.restore()
    through = S3Store(
        "housify-test",
        f"retry{free_port()}",
        endpoint_url=f"http://127.0.0.1:{relay.port}",
        access_key_id=seaweedfs.access_key_id,
        secret_access_key=seaweedfs.secret_access_key,
        timeout_seconds=1.0,
    )
    await relay.cut()
    writing = asyncio.create_task(put_with_retry(through, "images/result.png", b"\x89PNG finished work", within=30))
    await asyncio.sleep(1.5)
    assert not writing.done()  # still trying
    await relay.restore()
    assert await asyncio.wait_for(writing, 20) == len(b"\x89PNG finished work")
    assert await through.get("images/result.png") == b"\x89PNG finished work"

    await relay.cut()
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await put_with_retry(through, "images/lost.png", b"x", within=1.5, first_pause=0.2)
    assert 1.0 < time.monotonic() - started < 8
