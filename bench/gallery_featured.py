"""Throughput and latency of ``GET /gallery/featured`` with 10,000 rated public pictures.

    python bench/gallery_featured.py [--images 10000] [--requests 2000] [--concurrency 16]

PostgreSQL (a throw-away database) and Redis on localhost; ``housify-api
serve`` (one uvicorn worker) in a child process; httpx clients over loopback. The pictures'
rating totals (1-200 votes, 1-5 stars) are written directly into
``media_images`` — the front page reads only those totals.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid

import e2e_support  # noqa: F401 - sets the environment first
import httpx


async def seed(images: int) -> None:
    from housify_api.media.tables import Image
    from housify_api.tables import User
    from housify_common.db import migrate_all

    await migrate_all()
    owner = User(email=f"owner-{uuid.uuid4().hex[:6]}@example.com", password_hash="x")
    await owner.save()
    rng = random.Random(4)
    batch = []
    for n in range(images):
        votes = rng.randint(1, 200)
        mean = rng.uniform(1.0, 5.0)
        stars = round(mean * votes)
        batch.append(
            Image(
                owner=owner.id,
                kind="generated",
                storage_key=f"images/{n}.png",
                thumb_key=f"thumbs/{n}.webp",
                content_type="image/png",
                size_bytes=1000,
                width=512,
                height=512,
                title=f"room {n}",
                public=True,
                rating_sum=stars,
                rating_count=votes,
                rating_avg=stars / votes,
            )
        )
        if len(batch) == 1000:
            await Image.insert(*batch)
            batch = []
    if batch:
        await Image.insert(*batch)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--cache-seconds", type=float, default=5.0, help="HOUSIFY_MEDIA_FEATURED_CACHE_SECONDS (0 = compute every time)"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    await seed(args.images)
    print(f"seeded {args.images:,} rated public pictures in {time.perf_counter() - started:.1f} s")
    latencies: list[float] = []
    with e2e_support.api_process(HOUSIFY_MEDIA_FEATURED_CACHE_SECONDS=str(args.cache_seconds)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, limits=httpx.Limits(max_connections=args.concurrency)) as http:
            first = (await http.get("/gallery/featured")).json()
            assert len(first) == 12, first
            print("top 3:", [(f["title"], f["score"], f["rating"]["count"]) for f in first[:3]])
            for _ in range(50):  # warm-up
                await http.get("/gallery/featured")
            remaining = args.requests

            async def client() -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    t0 = time.perf_counter()
                    response = await http.get("/gallery/featured")
                    latencies.append(time.perf_counter() - t0)
                    assert response.status_code == 200

            t0 = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(args.concurrency)))
            elapsed = time.perf_counter() - t0
    p50, p99 = e2e_support.percentile(latencies, 50), e2e_support.percentile(latencies, 99)
    print(
        f"GET /gallery/featured over {args.images:,} rated pictures, {len(latencies)} requests, "
        f"{args.concurrency} concurrent, cache {args.cache_seconds:g} s, 1 uvicorn worker (child process), {os.cpu_count()} cores (shared):"
    )
    print(f"  {len(latencies) / elapsed:,.0f} requests/s   p50 {p50 * 1000:.1f} ms   p99 {p99 * 1000:.1f} ms")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    finally:
        e2e_support.cleanup()
