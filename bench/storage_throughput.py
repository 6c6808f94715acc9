"""Put/get throughput of the two image stores, side by side in one run.

For each store: ``--count`` objects of ``--size`` bytes (a typical PNG is
100-500 KB) written with ``put`` and read back with ``get``, ``--concurrency``
at once, ``--rounds`` times on new keys (the first round of a fresh SeaweedFS
includes its volume set-up), then one ``--large`` MiB object through ``put_stream``/``get_stream``
(multipart). Prints objects/s, MB/s and p50/p99 latency per operation.

The S3 store is a SeaweedFS server this script starts on loopback (the same
helper as tests/storage), unless ``--endpoint`` names another S3 server
(then ``--bucket``, ``HOUSIFY_S3_ACCESS_KEY_ID`` / ``HOUSIFY_S3_SECRET_ACCESS_KEY``).

    python bench/storage_throughput.py [--count 200] [--size 262144] [--concurrency 8] [--rounds 2] [--large 64]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from housify_common.storage import DirectoryStore, ImageStore, S3Store  # noqa: E402

MiB = 1024 * 1024


async def timed(count: int, concurrency: int, op: Callable[[int], Awaitable[object]]) -> tuple[float, list[float]]:
    """Run ``op(i)`` for ``i < count``, ``concurrency`` at once; wall seconds and per-call seconds."""
    latencies: list[float] = []
    next_index = iter(range(count))

    async def lane() -> None:
        for i in next_index:
            t0 = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


def line(name: str, op: str, count: int, size: int, wall: float, lat: list[float]) -> str:
    lat = sorted(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return (
        f"{name:<10} {op:<11} {count / wall:9.1f} obj/s {count * size / wall / 1e6:9.1f} MB/s "
        f"p50 {statistics.median(lat) * 1e3:7.2f} ms  p99 {p99 * 1e3:7.2f} ms"
    )


async def bench_store(name: str, store: ImageStore, args: argparse.Namespace) -> None:
    payload = secrets.token_bytes(args.size)
    prefix = f"bench{secrets.token_hex(3)}"
    for round_ in range(1, args.rounds + 1):  # round 1 includes a new store's set-up (SeaweedFS grows its volumes)
        keys = [f"{prefix}/r{round_}-{i}.png" for i in range(args.count)]
        wall, lat = await timed(args.count, args.concurrency, lambda i, keys=keys: store.put(keys[i], payload))
        print(line(name, f"put #{round_}", args.count, args.size, wall, lat), flush=True)
        wall, lat = await timed(args.count, args.concurrency, lambda i, keys=keys: store.get(keys[i]))
        print(line(name, f"get #{round_}", args.count, args.size, wall, lat), flush=True)

    large = args.large * MiB

    async def pieces() -> AsyncIterator[bytes]:
        block = secrets.token_bytes(MiB)
        for _ in range(args.large):
            yield block

    t0 = time.perf_counter()
    await store.put_stream(f"{prefix}/large.bin", pieces())
    put_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    stream = await store.get_stream(f"{prefix}/large.bin")
    got = 0
    async for chunk in stream.chunks:
        got += len(chunk)
    get_s = time.perf_counter() - t0
    assert got == large
    print(f"{name:<10} {'put_stream':<11} {large / put_s / 1e6:9.1f} MB/s ({args.large} MiB)", flush=True)
    print(f"{name:<10} {'get_stream':<11} {large / get_s / 1e6:9.1f} MB/s ({args.large} MiB)", flush=True)
    async for info in store.list(prefix + "/"):
        await store.delete(info.key)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=256 * 1024, help="bytes per object (default 256 KiB)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="put/get rounds, each on new keys (default 2)")
    parser.add_argument("--large", type=int, default=64, help="MiB of the streamed object (default 64)")
    parser.add_argument("--endpoint", default="", help="an S3 server to use instead of a local SeaweedFS")
    parser.add_argument("--bucket", default="housify-bench")
    args = parser.parse_args()
    print(
        f"{args.count} x {args.size} B objects, concurrency {args.concurrency}; load average {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="housify-bench-") as tmp:
        await bench_store("directory", DirectoryStore(Path(tmp) / "dir"), args)
        server = None
        if args.endpoint:
            s3 = S3Store(
                args.bucket,
                endpoint_url=args.endpoint,
                access_key_id=os.environ.get("HOUSIFY_S3_ACCESS_KEY_ID", ""),
                secret_access_key=os.environ.get("HOUSIFY_S3_SECRET_ACCESS_KEY", ""),
            )
        else:
            from storage.seaweedfs import SeaweedFS

            server = SeaweedFS(Path(tmp) / "seaweedfs").start()
            server.create_bucket(args.bucket)
            s3 = S3Store(
                args.bucket,
                endpoint_url=server.endpoint_url,
                access_key_id=server.access_key_id,
                secret_access_key=server.secret_access_key,
            )
        try:
            await bench_store("s3", s3, args)
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    asyncio.run(main())
