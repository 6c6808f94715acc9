"""Encoding helpers shared by the AI worker (outputs) and the API (uploads).

Pillow only; no torch. Thumbnails are WebP, at most :data:`THUMB_SIDE` pixels
on the longer side, aspect ratio kept.
"""

from __future__ import annotations

import io

from PIL import Image

THUMB_SIDE = 256


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes of ``image``; no metadata is copied (``pnginfo`` left empty)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def make_thumbnail(image: Image.Image, side: int = THUMB_SIDE) -> bytes:
    """WebP bytes of ``image`` scaled to fit ``side`` x ``side`` (never enlarged)."""
    thumb = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    thumb.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="WEBP", quality=80)
    return buffer.getvalue()
