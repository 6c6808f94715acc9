"""A private picture from the bucket through nginx: the API decides, nginx fetches with the presigned query.

nginx loads the text ``nixos/lib/render-nginx.nix`` renders (what the NixOS
module feeds it) with ``s3Endpoint`` pointing at the session's SeaweedFS,
which checks every SigV4 signature: the picture arrives only if the query the
API signed survives nginx's proxying (path, ``Host``) unchanged.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from apikit import picture
from housify_common.storage import StorageSettings
from nix.conftest import rendered
from nix.test_render_nginx import base_params, tls, write_config  # noqa: F401 - tls is a fixture
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
    s3_endpoint: str,
    https_port: int,
) -> subprocess.Popen[str]:  # noqa: F811
    text = rendered(
        "nginx",
        base_params(
            tls, apiUpstreams=[api_address], s3Endpoint=s3_endpoint, httpPort=free_port(), httpsPort=https_port
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
    https_port = free_port()
    async with api(tmp_path, storage, accel_prefix="/_media_s3/") as (server, direct, accounts):
        proc = start_nginx(tls, tmp_path, f"127.0.0.1:{server.port}", seaweedfs.endpoint_url, https_port)
        try:
            context = ssl.create_default_context(cafile=str(tls["cert"]))
            async with httpx.AsyncClient(
                base_url=f"https://127.0.0.1:{https_port}", verify=context, timeout=30
            ) as edge:
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
        finally:
            proc.terminate()
            proc.wait(timeout=10)
