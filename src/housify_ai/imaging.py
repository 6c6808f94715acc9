"""Pictures around inference: the visible watermark, step previews, reading uploads.

Pillow only (no torch), so the queue and tests can use it without the AI stack.
"""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageDraw, ImageFont

PREVIEW_SIDE = 128


def _layout(
    size: tuple[int, int], text: str
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, tuple[int, int, int, int], tuple[int, int]]:
    """Font, band rectangle and text origin of the watermark on an image of ``size``."""
    width, height = size
    font_size = max(10, height // 20)
    font = ImageFont.load_default(size=font_size)
    # Whole pixels: FreeType's box is in pixels at stroke width 0 (Pillow types it float for strokes).
    left, top, right, bottom = (int(edge) for edge in font.getbbox(text))
    pad = max(2, font_size // 4)
    box_w, box_h = right - left + 2 * pad, bottom - top + 2 * pad
    x0, y0 = max(0, width - box_w - pad), max(0, height - box_h - pad)
    return font, (x0, y0, x0 + box_w, y0 + box_h), (x0 + pad - left, y0 + pad - top)


def apply_watermark(image: Image.Image, text: str) -> Image.Image:
    """A copy of ``image`` with ``text`` in a translucent dark band at the bottom right.

    The band's text is about 1/20 of the image height (at least 10 px) and sits
    inside the picture (docs/design.md, "Subscription levels": Free-Tier outputs carry a visible watermark).
    """
    base = image.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    font, box, origin = _layout(base.size, text)
    draw.rectangle(box, fill=(0, 0, 0, 140))
    draw.text(origin, text, font=font, fill=(255, 255, 255, 230))
    return Image.alpha_composite(base, overlay).convert("RGB")


def watermark_box(size: tuple[int, int], text: str) -> tuple[int, int, int, int]:
    """Where :func:`apply_watermark` draws on an image of ``size``: (left, top, right, bottom), right/bottom exclusive."""
    x0, y0, x1, y1 = _layout(size, text)[1]
    return x0, y0, x1 + 1, y1 + 1


def preview_b64(image: Image.Image, side: int = PREVIEW_SIDE) -> str:
    """A small WebP of ``image`` (at most ``side`` px) as base64 text, for ``preview`` events."""
    small = image.convert("RGB")
    small.thumbnail((side, side))
    buffer = io.BytesIO()
    small.save(buffer, format="WEBP", quality=60)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def open_image(data: bytes, size: tuple[int, int] | None, mode: str = "RGB") -> Image.Image:
    """Decode an uploaded image in ``mode``, resized to ``size`` (width, height) unless ``size`` is None.

    Raises:
        ValueError: when the bytes are not an image Pillow can read.
    """
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:  # PIL.UnidentifiedImageError, truncated files, ...
        raise ValueError(f"not a readable image: {exc}") from exc
    image = image.convert(mode)
    return image if size is None else image.resize(size, Image.Resampling.LANCZOS)
