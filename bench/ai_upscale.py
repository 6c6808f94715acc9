"""Real-ESRGAN x4plus (``upscale`` task) on this machine: load time, seconds per picture, peak memory.

    .venv/bin/python bench/ai_upscale.py [--sizes 128x96,256x192] [--tiles 64,128] [--device cpu]

Prints one line per (size, tile): output size, seconds (best of ``--runs``), output megapixels per
second, and the process's peak RSS so far (ru_maxrss: it only grows, so run tiles from small to large).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from PIL import Image, ImageDraw


def picture(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), (200, 190, 170))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, max(4, width // 16)):
        draw.line([(x, 0), (x + width // 8, height)], fill=(110, 70, 40), width=2)
    draw.rectangle(
        [width // 8, height // 8, width // 2, height // 2], fill=(150, 190, 230), outline=(60, 50, 40), width=3
    )
    draw.text((width // 2, height // 10), "HOUSIFY", fill=(20, 20, 20))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="128x96,256x192")
    parser.add_argument("--tiles", default="64,128")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()

    from housify_ai.upscale import Upscaler

    print(f"cpus={os.cpu_count()} loadavg={os.getloadavg()[0]:.1f} device={args.device}")
    for tile in (int(t) for t in args.tiles.split(",")):
        started = time.perf_counter()
        upscaler = Upscaler(args.device, tile=tile)
        print(f"tile {tile}: load {time.perf_counter() - started:.2f} s")
        for size in args.sizes.split(","):
            width, height = (int(v) for v in size.split("x"))
            image = picture(width, height)
            best = float("inf")
            for _ in range(args.runs):
                started = time.perf_counter()
                out = upscaler.enlarge(image, 4)
                best = min(best, time.perf_counter() - started)
            mpx = out.width * out.height / 1e6
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"  x4 {width}x{height} -> {out.width}x{out.height}: {best:.2f} s, {mpx / best:.3f} MP/s out, peak RSS {rss:.0f} MiB"
            )


if __name__ == "__main__":
    main()
