"""Pictures around inference: the visible watermark, step previews, reading uploads.

Pillow only (no torch), so the queue and tests can use it without the AI stack.
"""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageDraw, ImageFont

PREVIEW_SIDE = 128


def apply_watermark(image: Image.Image, text: str) -> Image.Image:
    """A copy of ``image`` with ``text`` in a translucent dark band at the bottom right.

    The band is about 1/20 of the image height (at least 12 px) and sits inside
    the picture, so cropping the edge does not remove it unnoticed (DESIGN.md §4:
    Free-Tier outputs carry a visible watermark).
    """
    base = image.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    size = max(10, base.height // 20)
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(2, size // 4)
    box_w, box_h = right - left + 2 * pad, bottom - top + 2 * pad
    x0, y0 = max(0, base.width - box_w - pad), max(0, base.height - box_h - pad)
    draw.rectangle((x0, y0, x0 + box_w, y0 + box_h), fill=(0, 0, 0, 140))
    draw.text((x0 + pad - left, y0 + pad - top), text, font=font, fill=(255, 255, 255, 230))
    return Image.alpha_composite(base, overlay).convert("RGB")


def watermark_box(size: tuple[int, int], text: str) -> tuple[int, int, int, int]:
    """Where :func:`apply_watermark` draws on an image of ``size``: (left, top, right, bottom)."""
    probe = Image.new("RGB", size)
    marked = apply_watermark(probe, text)
    diff = Image.eval(marked, lambda v: 255 if v else 0).getbbox()
    return diff or (0, 0, 0, 0)


def preview_b64(image: Image.Image, side: int = PREVIEW_SIDE) -> str:
    """A small WebP of ``image`` (at most ``side`` px) as base64 text, for ``preview`` events."""
    small = image.convert("RGB")
    small.thumbnail((side, side))
    buffer = io.BytesIO()
    small.save(buffer, format="WEBP", quality=60)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def open_image(data: bytes, size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """Decode an uploaded image and resize it to ``size`` (width, height) in ``mode``.

    Raises:
        ValueError: when the bytes are not an image Pillow can read.
    """
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # PIL.UnidentifiedImageError, truncated files, ...
        raise ValueError(f"not a readable image: {exc}") from exc
    return image.convert(mode).resize(size, Image.Resampling.LANCZOS)
