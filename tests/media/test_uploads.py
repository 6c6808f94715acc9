"""Upload verification: formats by content, pixel cap, truncation, EXIF stripping."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from housify_api.media.uploads import UploadRejected, clean_upload


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo(width: int = 64, height: int = 48) -> Image.Image:
    image = Image.new("RGB", (width, height), (200, 120, 40))
    image.putpixel((0, 0), (0, 0, 255))
    return image


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")],
)
def test_accepted_formats_are_reencoded_with_thumbnail(fmt: str, content_type: str, extension: str) -> None:
    clean = clean_upload(encode(photo(640, 480), fmt), max_pixels=10_000_000)
    assert (clean.content_type, clean.extension, clean.width, clean.height) == (content_type, extension, 640, 480)
    assert Image.open(io.BytesIO(clean.data)).format == fmt
    thumb = Image.open(io.BytesIO(clean.thumbnail))
    assert thumb.format == "WEBP"
    assert thumb.size == (256, 192)


def test_exif_is_stripped_and_orientation_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    exif[0x010F] = "SecretCam"  # Make
    raw = encode(photo(64, 48), "JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(raw)).getexif().get(0x010F) == "SecretCam"
    clean = clean_upload(raw, max_pixels=10_000_000)
    stored = Image.open(io.BytesIO(clean.data))
    assert dict(stored.getexif()) == {}
    assert b"SecretCam" not in clean.data
    assert (clean.width, clean.height) == (48, 64)


def test_png_text_chunks_are_dropped() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "home address 12 Elm St")
    clean = clean_upload(encode(photo(), "PNG", pnginfo=info), max_pixels=10_000_000)
    assert b"Elm St" not in clean.data


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"%PDF-1.7 not an image", "not a PNG, JPEG or WebP"),
        (b"GIF89a" + bytes(64), "not a PNG, JPEG or WebP"),
    ],
)
def test_non_images_are_422(data: bytes, fragment: str) -> None:
    with pytest.raises(UploadRejected) as caught:
        clean_upload(data, max_pixels=10_000_000)
    assert caught.value.status_code == 422
    assert fragment in str(caught.value)


def test_other_image_formats_are_refused() -> None:
    with pytest.raises(UploadRejected) as caught:
        clean_upload(encode(photo(), "BMP"), max_pixels=10_000_000)
    assert caught.value.status_code == 422


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_files_are_422(fmt: str) -> None:
    noisy = Image.effect_noise((256, 256), 64).convert("RGB")
    raw = encode(noisy, fmt)
    with pytest.raises(UploadRejected) as caught:
        clean_upload(raw[: len(raw) // 2], max_pixels=10_000_000)
    assert caught.value.status_code == 422


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` 1-bit pixels, all zero, deflated (a few KB)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + bytes((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(min(height, 2000))) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("side", "fragment"), [(10_000, "100,000,000 pixels"), (30_000, "more than 50,000,000")])
def test_pixel_cap_refuses_before_decoding(side: int, fragment: str) -> None:
    bomb = png_bomb(side, side)
    assert len(bomb) < 100_000
    with pytest.raises(UploadRejected) as caught:
        clean_upload(bomb, max_pixels=50_000_000)
    assert caught.value.status_code == 413
    assert fragment in str(caught.value)
    assert "50,000,000" in str(caught.value)


def test_pixel_cap_is_inclusive() -> None:
    raw = encode(photo(100, 100), "PNG")
    assert clean_upload(raw, max_pixels=10_000).width == 100
    with pytest.raises(UploadRejected) as caught:
        clean_upload(raw, max_pixels=9_999)
    assert caught.value.status_code == 413


def test_cmyk_jpeg_and_palette_png_are_normalised() -> None:
    cmyk = clean_upload(encode(Image.new("CMYK", (32, 32), (0, 50, 100, 0)), "JPEG"), max_pixels=10_000)
    assert Image.open(io.BytesIO(cmyk.data)).mode == "RGB"
    palette = clean_upload(encode(photo().convert("P"), "PNG"), max_pixels=10_000)
    assert Image.open(io.BytesIO(palette.data)).mode == "P"
