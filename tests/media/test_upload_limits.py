"""Issue 21 item 3 (and the upload parts of 10 and 16): sides and aspect ratio are bounded before decoding,
decoding runs in processes under a memory cap, a user's uploads are limited per hour and in flight; an MPO
is a JPEG; an ICC profile is kept only as LittleCMS writes it back. Each API test fails on 02e5a16."""

from __future__ import annotations

import asyncio
import io
import struct
import time
import zlib

import httpx
import msgspec
import pytest
from litestar.exceptions import HTTPException
from PIL import Image, ImageCms

from apikit import Accounts, picture, upload
from testkit import AsgiServer


def _strip_png(width: int = 1, height: int = 50_000_000) -> bytes:
    """A valid PNG of ``width`` x ``height`` black pixels: ~95 KiB for the issue's 1 x 50,000,000."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    deflate, rows = zlib.compressobj(9), b"\x00" * (1 + width) * 100_000
    data = b"".join(deflate.compress(rows) for _ in range(height // 100_000)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


async def test_a_one_pixel_wide_strip_is_refused_before_decoding(http: httpx.AsyncClient, accounts: Accounts) -> None:
    """On 02e5a16 this 95 KiB file passed the 50-megapixel check and cost 1.4 GB and 9.5-27 s to decode."""
    user = await accounts.user()
    strip = await asyncio.to_thread(_strip_png)
    assert len(strip) < 100 * 1024
    started = time.perf_counter()
    response = await upload(http, user, strip)
    took = time.perf_counter() - started
    assert response.status_code == 413 and "at most 16,383 pixels" in response.json()["detail"], response.text
    assert took < 5, took
    thin = await upload(http, user, picture(2000, 100))
    assert thin.status_code == 413 and "times the shorter" in thin.json()["detail"]


async def test_decoding_is_capped_in_memory() -> None:
    from housify_api.media.decoder import Decoder
    from housify_api.media.uploads import UploadRejected

    buffer = io.BytesIO()
    Image.new("RGBA", (6000, 6000), (10, 20, 30, 255)).save(buffer, "PNG")  # 144 MB decoded, 0.2 MB stored
    capped = Decoder(workers=1, memory_mb=256, timeout=60)
    try:
        small = await capped.clean(picture(), max_pixels=50_000_000)
        assert (small.width, small.height) == (96, 64)
        with pytest.raises(UploadRejected, match="more than the 256 MiB") as refused:
            await capped.clean(buffer.getvalue(), max_pixels=50_000_000)
        assert refused.value.status_code == 413
        again = await capped.clean(picture(), max_pixels=50_000_000)  # the worker is still usable
        assert again.width == 96
    finally:
        capped.close()


async def test_uploads_are_limited_per_hour_and_in_flight(media_server: AsgiServer, accounts: Accounts) -> None:
    from housify_api.media.upload_limits import upload_slot

    media = media_server.app.state.services.media
    user = await accounts.user()
    settings = msgspec.structs.replace(media.settings, uploads_per_hour=3, uploads_in_flight=2)
    async with (
        upload_slot(media.queue.client, media.queue.keys, user.id, settings),
        upload_slot(media.queue.client, media.queue.keys, user.id, settings),
    ):
        with pytest.raises(HTTPException) as busy:
            async with upload_slot(media.queue.client, media.queue.keys, user.id, settings):
                pass
        assert busy.value.status_code == 429 and "at once" in busy.value.detail
    async with upload_slot(
        media.queue.client, media.queue.keys, user.id, settings
    ):  # the in-flight slots are free again
        pass
    with pytest.raises(HTTPException) as hourly:
        async with upload_slot(media.queue.client, media.queue.keys, user.id, settings):
            pass
    assert hourly.value.status_code == 429 and "3 uploads per hour" in hourly.value.detail
    assert int(hourly.value.headers["Retry-After"]) > 0


async def test_parallel_uploads_of_one_user_beyond_two_are_refused(http: httpx.AsyncClient, accounts: Accounts) -> None:
    """On 02e5a16 any number of one user's uploads were decoded at once."""
    user = await accounts.user(level="Pro-Tier")
    big = picture(2500, 2500, fmt="PNG")
    answers = await asyncio.gather(*(upload(http, user, big) for _ in range(6)))
    codes = sorted(a.status_code for a in answers)
    assert 429 in codes and codes.count(201) >= 2, codes
    refused = next(a for a in answers if a.status_code == 429)
    assert "at once" in refused.json()["detail"] and refused.headers["Retry-After"]


async def test_an_mpo_is_stored_as_a_jpeg(http: httpx.AsyncClient, accounts: Accounts) -> None:
    """Item 10: on 02e5a16 a multi-picture JPEG answered 500 (KeyError 'MPO')."""
    user = await accounts.user()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(
        buffer, "MPO", save_all=True, append_images=[Image.new("RGB", (64, 48), (10, 200, 10))]
    )
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    response = await upload(http, user, buffer.getvalue(), filename="stereo.jpg")
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/jpeg" and response.json()["width"] == 64


async def test_an_icc_profile_is_kept_only_as_a_parsed_profile(http: httpx.AsyncClient, accounts: Accounts) -> None:
    """Item 16: on 02e5a16 2 MB of arbitrary bytes in the ICC chunk were stored and served back verbatim."""
    user = await accounts.user()

    def with_icc(icc: bytes) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32), (1, 2, 3)).save(buffer, "PNG", icc_profile=icc)
        return buffer.getvalue()

    async def stored_icc(data: bytes) -> bytes | None:
        response = await upload(http, user, data)
        assert response.status_code == 201, response.text
        content = await http.get(
            f"/images/{response.json()['id']}/content", headers=user.headers, follow_redirects=True
        )
        return Image.open(io.BytesIO(content.content)).info.get("icc_profile")

    payload = b"attacker-controlled " * 40_000  # 800 KB (a PNG text chunk holds at most 1 MB in Pillow)
    assert await stored_icc(with_icc(payload)) is None
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    kept = await stored_icc(with_icc(srgb))
    assert kept is not None and ImageCms.ImageCmsProfile(io.BytesIO(kept)).profile.profile_description
