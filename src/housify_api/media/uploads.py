"""Validation and normalisation of uploaded pictures (docs/design.md "Security rules", uploads).

An upload is accepted only when Pillow decodes it completely as PNG, JPEG or
WebP — the file name and the client's content type are ignored. The pixel
count is checked from the header *before* any pixel is decoded (decompression
bombs: a few KB of PNG can declare 50,000 x 50,000 pixels). The stored copy is
re-encoded from the decoded pixels, which drops EXIF (GPS position, camera
serial), XMP and text chunks; only the ICC colour profile is kept. The EXIF
orientation is applied first, so a portrait phone photo stays upright.

Errors are :class:`UploadRejected` with the HTTP status to answer:
413 for too many pixels, 422 for anything that is not a complete image of an
accepted format.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from housify_common.imaging import make_thumbnail

#: Pillow format name -> (content type, file extension used in storage keys).
ACCEPTED_FORMATS: dict[str, tuple[str, str]] = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
}

# Modes each output format can store without loss; anything else is converted.
_KEEP_MODES = {
    "PNG": {"1", "L", "LA", "P", "RGB", "RGBA"},
    "JPEG": {"L", "RGB"},
    "WEBP": {"RGB", "RGBA"},
}


class UploadRejected(ValueError):
    """An upload that cannot be accepted; ``status_code`` is 413 or 422, ``str()`` says why."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class CleanImage:
    """A verified, re-encoded upload: stored bytes, its content type, size and WebP thumbnail."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    thumbnail: bytes


def clean_upload(data: bytes, *, max_pixels: int) -> CleanImage:
    """Verify ``data`` as a PNG/JPEG/WebP image and re-encode it without metadata.

    Blocking (decodes the whole image); call it in a thread.

    Raises:
        UploadRejected: 422 when empty, not an image, another format, truncated
            or corrupt; 413 when ``width * height > max_pixels``.
    """
    if not data:
        raise UploadRejected(422, "file: the upload is empty")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns between MAX_IMAGE_PIXELS and twice that;
            # ours below is stricter and gives the numbers.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except Image.DecompressionBombError as exc:
        # Pillow refuses > 2 * MAX_IMAGE_PIXELS (about 179 million) already at open.
        raise UploadRejected(413, f"file: image has more than {max_pixels:,} pixels, the limit") from exc
    except UnidentifiedImageError as exc:
        raise UploadRejected(422, "file: not a PNG, JPEG or WebP image") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # e.g. a WebP whose RIFF container is cut short fails while opening
        raise UploadRejected(422, f"file: truncated or corrupt image ({exc})") from exc
    with image:
        fmt = image.format or ""
        width, height = image.size
        if width * height > max_pixels:
            raise UploadRejected(
                413, f"file: image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,} pixels"
            )
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as exc:
            # Pillow raises OSError("image file is truncated ...") or a decoder error.
            raise UploadRejected(422, f"file: truncated or corrupt {fmt} image ({exc})") from exc
        return _reencode(image, fmt)


def _reencode(image: Image.Image, fmt: str) -> CleanImage:
    icc_profile = image.info.get("icc_profile")
    upright = ImageOps.exif_transpose(image)
    if upright.mode not in _KEEP_MODES[fmt]:
        upright = upright.convert("RGBA" if "A" in upright.getbands() and fmt != "JPEG" else "RGB")
    options: dict[str, object] = {}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if fmt == "JPEG":
        options.update(quality=92, optimize=True)
    elif fmt == "WEBP":
        options.update(quality=90)
    buffer = io.BytesIO()
    upright.save(buffer, format=fmt, **options)
    content_type, extension = ACCEPTED_FORMATS[fmt]
    return CleanImage(
        data=buffer.getvalue(),
        content_type=content_type,
        extension=extension,
        width=upright.width,
        height=upright.height,
        thumbnail=make_thumbnail(upright),
    )
