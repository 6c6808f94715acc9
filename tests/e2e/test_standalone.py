"""The README's run command plus the quickstart's client on a fresh data directory:
``housify standalone`` (SQLite, in-process Redis, tiny models built on first start)
and ``examples/client.py`` produce a picture on disk, in history, rated and featured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from testkit import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# the embedded default: none of the test run's database, Redis or piccolo settings
TEST_ONLY = (
    "HOUSIFY_DATABASE_URL",
    "HOUSIFY_REDIS_URL",
    "HOUSIFY_REDIS_PREFIX",
    "PICCOLO_CONF",
    "HOUSIFY_STORAGE_DIR",
    "HOUSIFY_AI_URL",
    "HOUSIFY_AI_DIFFUSION_MODEL",
    "HOUSIFY_AI_LLM_MODEL",
    "HOUSIFY_DATA_DIR",
)


def test_standalone_and_the_example_client(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY}
    env.update(HOUSIFY_DATA_DIR=str(tmp_path / "var"), HOUSIFY_AI_LLM_MAX_TOKENS="64")
    port, ai_port, soap_port = free_port(), free_port(), free_port()
    log = tmp_path / "standalone.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "housify.cli",
            "standalone",
            "--port",
            str(port),
            "--ai-port",
            str(ai_port),
            "--soap-port",
            str(soap_port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while True:
            try:
                if (
                    httpx.get(base + "/health", timeout=1).status_code == 200
                    and "Housify is running" in log.read_text()
                ):
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        _signed_urls_and_a_mask_on_sqlite(base)
        picture = tmp_path / "picture.png"
        client = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "client.py"), "--base-url", base, "--out", str(picture)],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert client.returncode == 0, client.stdout + client.stderr
        assert "succeeded" in client.stdout and "featured gallery:" in client.stdout
        assert Image.open(picture).size == (256, 256)
        stored = list((tmp_path / "var" / "storage" / "images").glob("*.png"))  # the client's and the upload check's
        assert picture.read_bytes() in [path.read_bytes() for path in stored]
        assert (tmp_path / "var" / "housify.sqlite").is_file()
        assert (tmp_path / "var" / "models" / "tiny-sd" / "model_index.json").is_file()
    finally:
        proc.terminate()
        try:
            assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
        finally:
            proc.kill()


def _signed_urls_and_a_mask_on_sqlite(base: str) -> None:
    """The standalone (one process, SQLite, no nginx) checks the signed picture URLs itself, and keeps masks
    apart from pictures (a mask upload answered 500 on SQLite: OFFSET without LIMIT)."""
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 200)).save(buffer, format="PNG")
    png = buffer.getvalue()
    email, password = "standalone-urls@example.com", "a long enough password 42"
    assert httpx.post(base + "/auth/register", json={"email": email, "password": password}).status_code == 201
    token = httpx.post(
        base + "/auth/token", data={"grant_type": "password", "username": email, "password": password}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    uploaded = httpx.post(base + "/images/uploads", files={"file": ("p.png", png, "image/png")}, headers=auth)
    assert uploaded.status_code == 201, uploaded.text
    image = uploaded.json()
    assert image["url"].startswith("/media/own/")
    fetched = httpx.get(base + image["url"])  # no credentials: the URL is the permission
    stored = httpx.get(base + f"/images/{image['id']}/content", headers=auth)
    assert fetched.status_code == 200 and fetched.content == stored.content
    assert fetched.headers["cache-control"] == "private, max-age=60"
    assert httpx.get(base + image["url"].replace("/media/own/", "/media/pub/")).status_code == 403
    mask = httpx.post(
        base + "/images/uploads",
        files={"file": ("m.png", png, "image/png")},
        data={"purpose": "mask"},
        headers=auth,
    )
    assert mask.status_code == 201, mask.text
    assert mask.json()["kind"] == "mask"
    listed = httpx.get(base + "/images/", headers=auth).json()["items"]
    assert [item["id"] for item in listed] == [image["id"]]
