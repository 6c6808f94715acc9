"""Write the front page's example pair shipped with the app: a small picture and its real
Real-ESRGAN x4 enlargement (``housify_ai.upscale``, the model the Enlarge x4 button runs).

The small picture is a room drawn here with Pillow (lines, shading and a little noise, fixed seed),
so the example is reproducible and needs no diffusion weights. Output (WebP, a few kB each):
``web/public/example/before.webp`` (160x112), ``after.webp`` (640x448) and ``example.json``
(the caption). An operator replaces these three files with a pair of their own.

    .venv/bin/python web/scripts/make_example.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parents[1] / "public" / "example"
W, H = 160, 112


def room() -> Image.Image:
    """A living room in two-point-ish perspective: wall, floor boards, window, sofa, lamp, plant."""
    rng = random.Random(7)
    img = Image.new("RGB", (W, H), (226, 214, 196))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, W, 70), fill=(222, 210, 190))  # back wall
    d.polygon([(0, 70), (W, 70), (W, H), (0, H)], fill=(164, 118, 78))  # floor
    for x in range(-80, W + 80, 14):  # floor boards converging to the vanishing point
        d.line([(80 + (x - 80) * 0.35, 70), (x, H)], fill=(140, 98, 62), width=1)
    d.rectangle((96, 14, 140, 52), fill=(250, 250, 246))  # window
    d.rectangle((98, 16, 138, 50), fill=(168, 204, 226))
    d.line([(118, 16), (118, 50)], fill=(250, 250, 246), width=2)
    d.line([(98, 33), (138, 33)], fill=(250, 250, 246), width=2)
    d.rectangle((14, 52, 78, 80), fill=(46, 86, 104))  # sofa
    d.rectangle((14, 44, 78, 58), fill=(56, 100, 120))
    d.rectangle((10, 50, 20, 82), fill=(40, 76, 92))
    d.rectangle((72, 50, 82, 82), fill=(40, 76, 92))
    d.ellipse((28, 46, 44, 58), fill=(232, 192, 96))  # cushion
    d.rectangle((52, 86, 98, 92), fill=(92, 64, 40))  # low table
    d.line([(148, 44), (148, 86)], fill=(50, 50, 50), width=2)  # floor lamp
    d.polygon([(140, 36), (156, 36), (152, 46), (144, 46)], fill=(244, 230, 200))
    d.ellipse((84, 58, 96, 70), fill=(60, 120, 60))  # plant
    d.rectangle((87, 68, 93, 78), fill=(180, 90, 60))
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    px = img.load()
    for y in range(H):  # a little sensor-like noise, so the enlargement has texture to deal with
        for x in range(W):
            n = rng.randint(-6, 6)
            r, g, b = px[x, y]
            px[x, y] = (max(0, min(255, r + n)), max(0, min(255, g + n)), max(0, min(255, b + n)))
    return img


def main() -> None:
    from housify_ai.upscale import Upscaler

    OUT.mkdir(parents=True, exist_ok=True)
    small = room()
    big = Upscaler(device="cpu", tile=64).enlarge(small, 4)
    small.save(OUT / "before.webp", "WEBP", quality=90)
    big.save(OUT / "after.webp", "WEBP", quality=72)
    caption = {
        "before": "/example/before.webp",
        "after": "/example/after.webp",
        "width": big.width,
        "height": big.height,
        "caption": (
            f"Enlarge ×4: a {small.width}×{small.height} picture (left, stretched by the browser) and "
            f"Real-ESRGAN's {big.width}×{big.height} enlargement of it (right), made by this server's upscaler."
        ),
    }
    (OUT / "example.json").write_text(json.dumps(caption, ensure_ascii=False, indent=2) + "\n")
    for f in sorted(OUT.iterdir()):
        print(f"{f.name}: {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
