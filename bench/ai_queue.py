"""Queue and service overhead of housify-ai (issue 3 targets).

1. Queue overhead, no-op task, worker in its own process, real Redis:
   dispatch latency (XADD by ``enqueue_job`` -> the worker's ``started`` event)
   p50/p99 with one job in flight, and jobs/second for a burst.
   Targets: p50 <= 5 ms on loopback, >= 1,000 no-op jobs/s.
2. Service overhead: the same tiny text2img job through the queue (events per
   step, PNG + thumbnail to storage, result publication) vs a direct pipeline
   call, as a ratio. Target: overhead <= 10 % of pipeline time.

    python bench/ai_queue.py [--redis-url redis://127.0.0.1:6379/0] [--part queue|service|all]

Keys go under a fresh ``housify-bench-<hex>:`` prefix and are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from housify_ai.contract import (  # noqa: E402
    RESULT_FIELD,
    JobRequest,
    JobResult,
    StreamKeys,
    decode_result,
    enqueue_job,
    ensure_groups,
    event_from_entry,
)
from housify_ai.settings import AISettings  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def request(i: int, **kw) -> JobRequest:
    return JobRequest.from_flat({"job_id": f"b{i}", "user_id": "bench", "prompt": "a bright kitchen", **kw})


# -- no-op worker process ---------------------------------------------------------


async def _noop(ctx) -> JobResult:
    return JobResult(
        job_id=ctx.request.job_id, status="succeeded", seed=ctx.seed, started_at=ctx.started_at, finished_at=time.time()
    )


def serve_noop(redis_url: str, prefix: str, concurrency: int) -> None:
    import signal

    from housify_ai.worker import Worker

    settings = AISettings(
        redis_url=redis_url,
        redis_prefix=prefix,
        ai_concurrency=concurrency,
        ai_run_log=False,
        ai_block_ms=1000,
        ai_consumer="bench-noop",
    )

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await Worker(settings, _noop).run(stop)

    from housify_ai.cli import run_event_loop

    run_event_loop(run())


async def wait_results(client, keys: StreamKeys, count: int, timeout: float = 120.0) -> list[JobResult]:
    results: list[JobResult] = []
    last = "0-0"
    deadline = time.monotonic() + timeout
    while len(results) < count and time.monotonic() < deadline:
        reply = await client.xread({keys.results(): last}, count=1000, block=1000)
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                results.append(decode_result(fields[RESULT_FIELD.encode()]))
    return results


async def started_latencies(client, keys: StreamKeys, requests: list[JobRequest]) -> list[float]:
    """Seconds from enqueue to the ``started`` event of each job."""
    out = []
    for req in requests:
        entries = await client.xrange(keys.events(req.job_id))
        events = {e.type: e for e in (event_from_entry(f) for _id, f in entries)}
        queued, started = events["queued"], events["started"]
        out.append(started.at - queued.at)
    return out


async def bench_queue(redis_url: str, concurrency: int, latency_jobs: int, burst_jobs: int) -> None:
    import redis.asyncio as aioredis

    prefix = f"housify-bench-{secrets.token_hex(4)}:"
    keys = StreamKeys(prefix)
    client = aioredis.Redis.from_url(redis_url)
    await ensure_groups(client, keys)
    # Throughput: a backlog of no-op jobs is enqueued first, then the worker drains it;
    # the rate is taken between the worker's first "started" and its last result.
    burst = [request(100_000 + i) for i in range(burst_jobs)]
    t0 = time.perf_counter()
    for i in range(0, burst_jobs, 8):
        await asyncio.gather(*(enqueue_job(client, keys, req) for req in burst[i : i + 8]))
    enqueue_rate = burst_jobs / (time.perf_counter() - t0)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-noop", prefix, "--redis-url", redis_url, "--concurrency", str(concurrency)]
    )
    try:
        results = await wait_results(client, keys, burst_jobs)
        ok = [r for r in results if r.status == "succeeded"]
        first_start = min(r.started_at for r in ok)
        last_end = max(r.finished_at for r in ok)
        print(
            f"queue throughput, backlog of {burst_jobs} no-op jobs drained by one worker process (concurrency {concurrency}): "
            f"{len(ok) / (last_end - first_start):,.0f} jobs/s ({len(ok)} succeeded in {last_end - first_start:.2f} s; "
            f"the producer enqueued {enqueue_rate:,.0f} jobs/s)"
        )

        # Latency: one job in flight at a time, idle worker blocked on the streams.
        reqs = []
        for i in range(latency_jobs):
            req = request(i)
            await enqueue_job(client, keys, req)
            reqs.append(req)
            await wait_results_for(client, keys, req.job_id)
        lat = [s * 1000 for s in await started_latencies(client, keys, reqs)]
        print(
            f"queue dispatch latency (enqueue -> started), {latency_jobs} jobs one at a time: "
            f"p50 {statistics.median(lat):.2f} ms, p99 {pct(lat, 99):.2f} ms, max {max(lat):.2f} ms"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        await _cleanup(client, prefix)
        await client.aclose()


async def wait_results_for(client, keys: StreamKeys, job_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last = "$"
    while time.monotonic() < deadline:
        if await client.exists(keys.result(job_id)):
            return
        reply = await client.xread({keys.results(): last}, count=10, block=50)
        for _stream, entries in reply or []:
            last = entries[-1][0]
    raise TimeoutError(job_id)


async def bench_service(redis_url: str, runs: int, size: int, steps: int) -> None:
    import redis.asyncio as aioredis

    from housify_ai.diffusion import DiffusionEngine
    from housify_ai.jobs import ImageJobHandler
    from housify_ai.tiny_models import build_tiny_diffusion
    from housify_ai.worker import Worker
    from housify_common.storage import DirectoryStore

    prefix = f"housify-bench-{secrets.token_hex(4)}:"
    keys = StreamKeys(prefix)
    client = aioredis.Redis.from_url(redis_url)
    with tempfile.TemporaryDirectory(prefix="housify-bench-") as tmp:
        model = build_tiny_diffusion(Path(tmp) / "tiny-sd")
        engine = DiffusionEngine(model, "cpu")
        settings = AISettings(
            redis_url=redis_url, redis_prefix=prefix, storage_dir=f"{tmp}/storage", ai_run_log=False, ai_block_ms=100
        )
        params = {"width": size, "height": size, "steps": steps, "seed": 1}
        engine.run(request(0, **params), 1, lambda *a: False)  # warm-up

        handler = ImageJobHandler(settings, engine, DirectoryStore(settings.storage_path))
        worker = Worker(settings, handler, client=client)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        direct, queued = [], []
        try:
            # Interleaved, so load from other processes on the machine hits both sides alike.
            for i in range(runs + 1):
                t0 = time.perf_counter()
                await asyncio.to_thread(engine.run, request(i, **params), 1, lambda *a: False)
                d = time.perf_counter() - t0
                req = request(1000 + i, **params)
                t0 = time.perf_counter()
                await enqueue_job(client, keys, req)
                await wait_results_for(client, keys, req.job_id)
                if i:  # the first pair warms up
                    direct.append(d)
                    queued.append(time.perf_counter() - t0)
        finally:
            stop.set()
            await task
            await _cleanup(client, prefix)
            await client.aclose()
    for name, pick in (("median", statistics.median), ("best", min)):
        d, q = pick(direct), pick(queued)
        print(
            f"service overhead, tiny text2img {size}x{size} x {steps} steps, {name} of {runs}: "
            f"direct pipeline {d * 1000:.1f} ms, through the queue {q * 1000:.1f} ms -> ratio {q / d:.3f} "
            f"(overhead {100 * (q / d - 1):+.1f} % of pipeline time)"
        )


async def _cleanup(client, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await client.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis-url", default=os.environ.get("HOUSIFY_REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--part", choices=["queue", "service", "all"], default="all")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-jobs", type=int, default=300)
    parser.add_argument("--burst-jobs", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--serve-noop", metavar="PREFIX", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_noop:
        serve_noop(args.redis_url, args.serve_noop, args.concurrency)
        return
    if args.part in ("queue", "all"):
        asyncio.run(bench_queue(args.redis_url, args.concurrency, args.latency_jobs, args.burst_jobs))
    if args.part in ("service", "all"):
        asyncio.run(bench_service(args.redis_url, args.runs, args.size, args.steps))


if __name__ == "__main__":
    main()
