"""The user's walk through the production shape: every request from ``wan``, over HTTPS, through nginx.

register → log in → upload a photo → img2img on a GPU host (its worker reads
the upload from the shared store) → progress over the WebSocket through nginx →
the picture's bytes through nginx's internal location, equal to the stored
bytes → the private picture refused to another user and to anonymous.
"""

from __future__ import annotations

import grp
import io
import os
import pwd
import stat
from pathlib import Path

import pytest
from PIL import Image

from .clients import SMALL, events, photo, sign_up, upload
from .netns import EDGE_WAN
from .procs import ACCOUNTS, STORAGE_GROUP
from .stack import SERVER_NAME, Topology


async def _storage_key(topo: Topology, image_id: str) -> str:
    conn = await topo.db()
    try:
        return await conn.fetchval("SELECT storage_key FROM media_images WHERE id = $1", image_id)
    finally:
        await conn.close()


def _assert_shared_file(topo: Topology, key: str) -> None:
    """A stored file is the storage group's (setgid directory), group-readable, never world-readable (umask 0007).

    Directory store only: S3 objects have no modes (the bucket is private; see ``test_firewall``).
    """
    if topo.store != "dir":
        return
    info = os.stat(topo.storage_dir / key)
    assert info.st_gid == grp.getgrnam(STORAGE_GROUP).gr_gid, f"{key}: group {info.st_gid}"
    assert info.st_mode & stat.S_IRGRP, f"{key}: mode {stat.filemode(info.st_mode)} is not group-readable"
    assert not info.st_mode & stat.S_IRWXO, f"{key}: mode {stat.filemode(info.st_mode)} is world-accessible"


async def test_walk_register_upload_img2img_watch_fetch(topo: Topology) -> None:
    async with topo.client() as http:
        health = await http.get("/health")
        assert health.status_code == 200 and health.http_version == "HTTP/2", health
        for header in ("strict-transport-security", "x-content-type-options", "x-frame-options"):
            assert header in health.headers, f"nginx sent no {header}: {dict(health.headers)}"

        ann = await sign_up(http)
        ben = await sign_up(http)
        original = photo(64, 64)
        uploaded = await upload(http, ann, original, title="my living room")
        assert uploaded.status_code == 201, uploaded.text
        upload_key = await _storage_key(topo, uploaded.json()["id"])
        _assert_shared_file(topo, upload_key)

        started = await http.post(
            "/jobs",
            json={
                "task": "img2img",
                "source_image_id": uploaded.json()["id"],
                "strength": 0.6,
                "prompt": "the same room in scandinavian style",
                **SMALL,
            },
            headers=ann.headers,
        )
        assert started.status_code == 202, started.text
        job = started.json()
        seen = await events(topo, job["id"], ann)
        types = [e["type"] for e in seen]
        assert types[0] == "queued" and "started" in types and types[-1] == "succeeded", seen[-1]
        steps = [e["step"] for e in seen if e["type"] == "progress"]
        assert steps and steps == sorted(steps), types
        image_id = seen[-1]["image_id"]

        # The bytes, as the web app fetches them: the signed URLs of the owner's listing, no credentials;
        # nginx checks them (secure_link, or the store's SigV4 for S3) and sends the bytes without Python.
        listed = (await http.get("/images/", headers=ann.headers)).json()["items"]
        picture = next(item for item in listed if item["id"] == image_id)
        assert picture["url"].startswith("/media/s3/" if topo.store == "s3" else "/media/own/"), picture["url"]
        content = await http.get(picture["url"])
        assert content.status_code == 200, content.text
        assert content.headers["cache-control"] == "private, max-age=60"
        key = await _storage_key(topo, image_id)
        _assert_shared_file(topo, key)  # written by housify-ai on a GPU host, read by nginx on the edge
        assert content.content == await topo.stored_bytes(key)
        assert Image.open(io.BytesIO(content.content)).size == (64, 64)
        thumb = await http.get(picture["thumb_url"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp", thumb.headers
        # refused at the edge: a tampered token or signature, and Ben's own URL turned to Ann's picture
        bens = (await upload(http, ben, photo(32, 32), title="ben's")).json()
        for refused_url in (
            picture["url"][:-6] + ("AAAAAA" if topo.store == "dir" else "000000"),
            bens["url"].replace(bens["id"], image_id),
        ):
            refused = await http.get(refused_url)
            assert refused.status_code == 403, (refused_url, refused.status_code)
            assert refused.content != content.content
        # API clients keep GET /images/{id}/content: access checked, then nginx sends the bytes
        # (X-Accel-Redirect to an internal location).
        via_route = await http.get(f"/images/{image_id}/content", headers=ann.headers)
        assert via_route.status_code == 200 and via_route.content == content.content
        assert "x-accel-redirect" not in via_route.headers
        async with topo.api_direct(0) as direct:
            behind = await direct.get(f"/images/{image_id}/content", headers=ann.headers)
            assert behind.status_code == 200 and behind.content == b"", behind.headers
            assert behind.headers["x-accel-redirect"].startswith("/_media_s3/" if topo.store == "s3" else "/_media/")
        assert (await http.get(behind.headers["x-accel-redirect"])).status_code == 404  # internal location

        # Private: refused to another user and to anonymous, the same way as a missing picture.
        for who in (ben.headers, {}):
            for path in (
                f"/images/{image_id}/content",
                f"/images/{uploaded.json()['id']}/content",
                f"/images/{image_id}",
            ):
                refused = await http.get(path, headers=who)
                assert refused.status_code == 404, (path, bool(who), refused.status_code, refused.text)
                assert refused.content != content.content


async def test_plain_http_redirects_to_https(topo: Topology) -> None:
    sock = await topo.net.wan.open_connection(EDGE_WAN, 80, timeout=5)
    try:
        sock.setblocking(True)
        sock.settimeout(5)
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n".encode())
        head = sock.recv(4096).decode(errors="replace")
    finally:
        sock.close()
    assert head.split()[1] in ("301", "308"), head
    assert f"location: https://{SERVER_NAME}/health" in head.lower(), head


@pytest.mark.parametrize("role", ["api", "ai", "soap", "nginx"])
def test_each_service_runs_as_its_own_user(topo: Topology, role: str) -> None:
    """Every process of a role runs as its account, with the storage group where the units give it."""
    account = ACCOUNTS[role]
    names = {"api": ("api-",), "ai": ("worker-", "ai-api-"), "soap": ("soap",), "nginx": ("nginx",)}[role]
    services = [s for n, s in topo.services.items() if n.startswith(names)]
    assert services
    for svc in services:
        pids = svc.pids()
        users = {_status(pid)["Uid"].split()[0] for pid in pids}
        expected = {str(pwd.getpwnam(account.name).pw_uid)}
        if role == "nginx":  # the master stays root (ports 80/443), its workers drop to the nginx account
            expected.add("0")
        assert users == expected, (svc.name, users)
        if role in ("api", "ai", "nginx"):
            gid = str(grp.getgrnam(STORAGE_GROUP).gr_gid)
            worker_pids = [p for p in pids if _status(p)["Uid"].split()[0] != "0"]
            assert all(gid in _status(p)["Groups"].split() or _status(p)["Gid"].split()[0] == gid for p in worker_pids)
            if role != "nginx":
                assert all(_status(p)["Umask"] == "0007" for p in worker_pids), [
                    (_status(p)["Umask"]) for p in worker_pids
                ]


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields
