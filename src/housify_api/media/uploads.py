"""Validation and normalisation of uploaded pictures (docs/design.md "Security rules", uploads).

An upload is accepted only when Pillow decodes it completely as PNG, JPEG or
WebP — the file name and the client's content type are ignored. A JPEG with
more pictures (MPO, as phones write for depth or stereo) counts as a JPEG of
its first picture. Each side, the aspect ratio and the pixel count are checked
from the header *before* any pixel is decoded (decompression bombs: a few KB
of PNG can declare 50,000 x 50,000 pixels; a 94 KiB PNG of 1 x 50,000,000
pixels passed a pixel cap alone and cost 1.4 GB and 9.5 s to decode — issue 21
item 3). The decoding itself runs in a separate process with an address-space
limit (:mod:`housify_api.media.decoder`). The stored copy is re-encoded from
the decoded pixels, which drops EXIF (GPS position, camera serial), XMP and
text chunks; the ICC colour profile is kept only when LittleCMS parses it, and
then as LittleCMS writes it back (at most :data:`ICC_MAX_BYTES`), never as the
uploaded bytes.

Errors are :class:`UploadRejected` with the HTTP status to answer:
413 for too many pixels, a side too long or a strip too thin, 422 for anything
that is not a complete image of an accepted format.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from housify_api.settings import DEFAULT_MAX_ASPECT_RATIO, DEFAULT_MAX_SIDE
from housify_common.imaging import make_thumbnail

#: Pillow format name -> (content type, file extension used in storage keys).
ACCEPTED_FORMATS: dict[str, tuple[str, str]] = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
}
#: Formats Pillow reports for files of an accepted one: a multi-picture JPEG (CIPA DC-007) is a JPEG.
SAME_AS = {"MPO": "JPEG"}
#: Largest colour profile kept (display and camera profiles are a few KB; LittleCMS's own output).
ICC_MAX_BYTES = 128 * 1024

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

    def __reduce__(self) -> tuple[type[UploadRejected], tuple[int, str]]:  # crosses the decoder's process boundary
        return (UploadRejected, (self.status_code, str(self)))


@dataclass(frozen=True, slots=True)
class CleanImage:
    """A verified, re-encoded upload: stored bytes, its content type, size and WebP thumbnail."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    thumbnail: bytes


def clean_upload(
    data: bytes,
    *,
    max_pixels: int,
    max_side: int = DEFAULT_MAX_SIDE,
    max_aspect_ratio: float = DEFAULT_MAX_ASPECT_RATIO,
) -> CleanImage:
    """Verify ``data`` as a PNG/JPEG/WebP image and re-encode it without metadata.

    Blocking (decodes the whole image); the API calls it through :mod:`housify_api.media.decoder`.

    Raises:
        UploadRejected: 422 when empty, not an image, another format, truncated
            or corrupt; 413 when ``width * height > max_pixels``, a side is longer than
            ``max_side`` or the longer side over the shorter is more than ``max_aspect_ratio``.
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
        fmt = SAME_AS.get(image.format or "", image.format or "")
        width, height = image.size
        if max(width, height) > max_side:
            raise UploadRejected(413, f"file: image is {width}x{height}; each side may be at most {max_side:,} pixels")
        if max(width, height) > max_aspect_ratio * max(1, min(width, height)):
            raise UploadRejected(
                413,
                f"file: image is {width}x{height}; the longer side may be at most {max_aspect_ratio:g} times the shorter",
            )
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


def checked_icc_profile(raw: object) -> bytes | None:
    """The colour profile as LittleCMS writes it back after parsing ``raw``; ``None`` when it does not
    parse or is over :data:`ICC_MAX_BYTES` (the picture is then stored without one, i.e. as sRGB)."""
    if not isinstance(raw, bytes) or not raw or len(raw) > 4 * ICC_MAX_BYTES:
        return None
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(raw)).tobytes()
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        return None
    return profile if len(profile) <= ICC_MAX_BYTES else None


def _reencode(image: Image.Image, fmt: str) -> CleanImage:
    icc_profile = checked_icc_profile(image.info.get("icc_profile"))
    upright = ImageOps.exif_transpose(image)
    if upright.mode not in _KEEP_MODES[fmt]:
        upright = upright.convert("RGBA" if "A" in upright.getbands() and fmt != "JPEG" else "RGB")
    upright.info.pop("icc_profile", None)  # Pillow's encoders would write the uploaded bytes back otherwise
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
