"""Pictures through nginx, as production serves them: signed URLs with no Python, and the API's redirect.

nginx loads the text ``nixos/lib/render-nginx.nix`` renders (what the NixOS
module feeds it) with ``s3Endpoint`` pointing at the session's SeaweedFS,
which checks every SigV4 signature: the picture arrives only if the query the
API signed survives nginx's proxying (path, ``Host``) unchanged. The directory
store's ``/media/{pub|own}/`` URLs are checked by nginx's ``secure_link``
against the same secret the API signs with; the API's own check
(``picture_urls.serve_signed``) is counted and must never run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from apikit import picture, upload
from housify_api.settings import MediaSettings
from housify_common.storage import StorageSettings
from housify_common.storage.signing import BOUND_SECONDS, MediaUrls, nginx_secret_include
from nix.conftest import rendered
from nix.test_render_nginx import base_params, nginx_test, tls, write_config  # noqa: F401 - tls is a fixture
from testkit import free_port

from .conftest import s3_settings
from .seaweedfs import SeaweedFS
from .test_api import api, content

pytestmark = [
    pytest.mark.skipif(
        subprocess.run(["which", "nginx"], capture_output=True).returncode != 0, reason="nginx not installed"
    ),
    pytest.mark.skipif(
        subprocess.run(["which", "nix-instantiate"], capture_output=True).returncode != 0,
        reason="nix-instantiate not installed (apt-get install nix-bin)",
    ),
]


def start_nginx(
    tls: dict[str, Path],  # noqa: F811 - the fixture imported above
    root: Path,
    api_address: str,
    s3_endpoint: str | None,
    https_port: int,
    **params: object,
) -> subprocess.Popen[str]:  # noqa: F811
    text = rendered(
        "nginx",
        base_params(
            tls,
            apiUpstreams=[api_address],
            s3Endpoint=s3_endpoint,
            httpPort=free_port(),
            httpsPort=https_port,
            **params,
        ),
        root,
    )
    conf = write_config(root / "nginx", text)
    return subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(conf.parent), "-g", "daemon off; master_process off;"],
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_private_s3_picture_through_nginx(
    migrated_db: str,
    tmp_path: Path,
    seaweedfs: SeaweedFS,
    tls: dict[str, Path],  # noqa: F811 - the fixture imported above
) -> None:
    storage: StorageSettings = s3_settings(seaweedfs, "nginx")
    async with (
        api(tmp_path, storage, accel_prefix="/_media_s3/") as (server, direct, accounts),
        edge_client(tls, tmp_path, server.port, seaweedfs.endpoint_url) as edge,
    ):
        owner, other = await accounts.user(), await accounts.user()
        created = await edge.post(
            "/images/uploads", files={"file": ("r.png", picture(120, 90), "image/png")}, headers=owner.headers
        )
        assert created.status_code == 201, created.text
        image = created.json()
        from housify_api.media.tables import Image

        row = await Image.select().where(Image.id == image["id"]).first()
        stored = await server.app.state.services.media.store.get(row["storage_key"])

        through = await edge.get(content(image), headers=owner.headers)
        assert through.status_code == 200, through.text
        assert through.content == stored and through.headers["content-type"] == "image/png"
        assert through.headers["cache-control"] == "private, max-age=60"  # the API's, not the bucket's
        assert "x-accel-redirect" not in through.headers
        thumb = await edge.get(content(image, thumb=True), headers=owner.headers)
        assert thumb.status_code == 200 and thumb.content == await server.app.state.services.media.store.get(
            row["thumb_key"]
        )

        # the API refuses, nginx never asks the bucket
        assert (await edge.get(content(image), headers=other.headers)).status_code == 404
        assert (await edge.get(content(image))).status_code == 404
        # the internal location is not reachable from outside, even with a valid signature
        target = (await direct.get(content(image), headers=owner.headers)).headers["x-accel-redirect"]
        assert (await edge.get(target)).status_code == 404


SECRET = "media-url-secret-of-the-nginx-tests_0123456789"


@contextlib.asynccontextmanager
async def edge_client(
    tls: dict[str, Path],  # noqa: F811 - the fixture imported above
    root: Path,
    api_port: int,
    s3_endpoint: str | None,
    **params: object,
) -> AsyncIterator[httpx.AsyncClient]:
    """nginx on the rendered text in front of the API on ``api_port``, and a client of it (no credentials)."""
    https_port = free_port()
    proc = start_nginx(tls, root, f"127.0.0.1:{api_port}", s3_endpoint, https_port, **params)
    try:
        context = ssl.create_default_context(cafile=str(tls["cert"]))
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{https_port}", verify=context, timeout=30) as edge:
            deadline = time.monotonic() + 10
            while True:
                try:
                    await edge.get("/health")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, (
                        proc.stderr.read() if proc.stderr else ""
                    )
                    await asyncio.sleep(0.05)
            yield edge
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def api_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every signed URL the API (not nginx) checked: must stay empty behind nginx."""
    from housify_api.media import picture_urls

    seen: list[str] = []
    real = picture_urls.serve_signed

    async def counted(*args: Any) -> Any:
        seen.append(args[3])  # (store, settings, scope, key, token, expires)
        return await real(*args)

    monkeypatch.setattr(picture_urls, "serve_signed", counted)
    return seen


def tampered(url: str, **changes: str) -> str:
    split = urlsplit(url)
    return split.path + "?" + urlencode({**dict(parse_qsl(split.query)), **changes})


async def test_directory_store_signed_urls_served_by_nginx_alone(
    migrated_db: str,
    tmp_path: Path,
    tls: dict[str, Path],  # noqa: F811 - the fixture imported above
    api_checks: list[str],
) -> None:
    files = tmp_path / "files"
    include = tmp_path / "media-secret.conf"
    include.write_text(nginx_secret_include(SECRET))
    media = MediaSettings(url_secret=SECRET, accel_redirect_prefix="/_media/")
    async with (
        api(tmp_path, StorageSettings(storage_dir=str(files)), media=media) as (server, _direct, accounts),
        edge_client(tls, tmp_path, server.port, None, mediaRoot=str(files), mediaSecretInclude=str(include)) as edge,
    ):
        owner = await accounts.user()
        created = await edge.post(
            "/images/uploads", files={"file": ("r.png", picture(120, 90), "image/png")}, headers=owner.headers
        )
        assert created.status_code == 201, created.text
        image = created.json()
        store = server.app.state.services.media.store
        through = await edge.get(image["url"])
        assert through.status_code == 200, through.text
        assert through.content == await store.get(f"images/{image['id']}.png")
        assert through.headers["content-type"] == "image/png"
        assert through.headers["cache-control"] == "private, max-age=60"
        thumb = await edge.get(image["thumb_url"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"

        query = dict(parse_qsl(urlsplit(image["url"]).query))
        assert (await edge.get(tampered(image["url"], md5="A" + query["md5"][1:]))).status_code == 403
        assert (await edge.get(tampered(image["url"], expires=str(int(query["expires"]) + 60)))).status_code == 403
        assert (await edge.get(image["url"].replace("/media/own/", "/media/pub/"))).status_code == 403
        other = (await upload(edge, await accounts.user(), picture(32, 32))).json()
        assert (await edge.get(other["url"].replace(other["id"], image["id"]))).status_code == 403
        old = MediaUrls(SECRET).sign(f"images/{image['id']}.png", public=False, now=time.time() - BOUND_SECONDS)
        assert (await edge.get(old.url)).status_code == 410
        assert (await edge.post(image["url"])).status_code in (403, 405)

        public = (await upload(edge, owner, picture(48, 48), public=True)).json()
        shown = await edge.get(public["thumb_url"])
        assert shown.status_code == 200 and shown.headers["cache-control"] == "public, max-age=60"

        assert (await edge.delete(f"/images/{image['id']}", headers=owner.headers)).status_code == 204
        assert (await edge.get(image["url"])).status_code == 404
        assert api_checks == []  # every URL above was nginx's alone


async def test_s3_signed_urls_through_nginx_cache_public_pictures_only_and_within_the_bound(
    migrated_db: str,
    tmp_path: Path,
    seaweedfs: SeaweedFS,
    tls: dict[str, Path],  # noqa: F811 - the fixture imported above
    api_checks: list[str],
) -> None:
    media = MediaSettings(url_secret=SECRET, accel_redirect_prefix="/_media_s3/", s3_url_prefix="/media/s3/")
    max_age = 2  # nginx keeps a public picture 2 s here (60 s in production), so the test can outwait it
    cache = tmp_path / "nginx-cache"
    cache.mkdir()
    async with (
        api(tmp_path, s3_settings(seaweedfs, "signed"), media=media) as (server, _direct, accounts),
        edge_client(
            tls, tmp_path, server.port, seaweedfs.endpoint_url, mediaCachePath=str(cache), mediaMaxAge=max_age
        ) as edge,
    ):
        owner = await accounts.user()
        store = server.app.state.services.media.store
        private = (await upload(edge, owner, picture(120, 90))).json()
        assert private["url"].startswith("/media/s3/housify-test/signed/images/")
        first = await edge.get(private["url"])
        assert first.status_code == 200, first.text
        assert first.content == await store.get(f"images/{private['id']}.png")
        assert first.headers["cache-control"] == f"private, max-age={max_age}"
        assert (await edge.get(private["url"])).headers["x-cache-status"] == "BYPASS"  # never kept
        # the store refuses a changed query: signature, the cache rule turned public, another key
        query = dict(parse_qsl(urlsplit(private["url"]).query))
        for url in (
            tampered(private["url"], **{"X-Amz-Signature": "0" * 64}),
            tampered(private["url"], **{"response-cache-control": "public, max-age=60"}),
            private["url"] + "&response-cache-control=public",
            urlsplit(private["url"]).path.replace(private["id"], str(uuid.uuid4())) + "?" + urlencode(query),
        ):
            refused = await edge.get(url)
            assert refused.status_code == 403 and b"AccessDenied" not in refused.content, url

        public = (await upload(edge, owner, picture(64, 64), public=True)).json()
        urls = MediaUrls(SECRET, store, s3_prefix="/media/s3/", window=2)  # URLs that end in 2-4 s
        short = urls.sign(f"images/{public['id']}.png", public=True)
        miss = await edge.get(short.url)
        assert miss.status_code == 200 and miss.headers["x-cache-status"] == "MISS"
        assert miss.headers["cache-control"] == f"public, max-age={max_age}"
        assert (await edge.get(short.url)).headers["x-cache-status"] == "HIT"
        # the bound: past the URL's end plus nginx's max-age, no fetch succeeds (cache entry gone,
        # the store refuses the expired signature)
        await asyncio.sleep(max(0.0, short.expires + max_age + 1.5 - time.time()))
        late = await edge.get(short.url)
        assert late.status_code == 403, (late.status_code, late.headers.get("x-cache-status"))
        assert api_checks == []


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"mediaRoot": "/srv/media"}, id="directory"),
        pytest.param({"s3Endpoint": "http://10.0.1.10:3900"}, id="s3"),
        pytest.param({"s3Endpoint": "https://localhost:3900", "mediaCachePath": "cache"}, id="s3-cached"),
        pytest.param(
            {"mediaRoot": "/srv/media", "s3Endpoint": "http://10.0.1.10:3900", "mediaCachePath": "c"}, id="both"
        ),
    ],
)
def test_nginx_accepts_the_signed_locations_in_every_combination(
    tls: dict[str, Path],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    extra: dict[str, str],
) -> None:
    include = tmp_path / "media-secret.conf"
    include.write_text(nginx_secret_include(SECRET))
    if "mediaCachePath" in extra:
        extra = {**extra, "mediaCachePath": str(tmp_path / extra["mediaCachePath"])}
    text = rendered("nginx", base_params(tls, mediaSecretInclude=str(include), **extra), tmp_path)
    result = nginx_test(write_config(tmp_path / "nginx", text))
    assert result.returncode == 0, result.stderr + "\n" + text
