"""Cost at real size on this CPU: Stable Diffusion 1.5 (random weights), and Housify's share of it.

The pipeline is SD 1.5 at its real architecture (bench/sd15_arch.py: 860 M
UNet, 84 M VAE, 123 M text encoder; compute does not depend on the weights'
values), saved to a temporary folder and loaded by ``DiffusionEngine`` as a
worker loads an operator's model. Two figures:

1. Seconds per denoising step at 512 x 512 (classifier-free guidance, so the
   UNet runs on a batch of 2): the median interval between step callbacks of a
   direct ``engine.generate`` call.
2. Housify's overhead on a text2img job through the queue (real Redis, one
   in-process worker, directory storage): enqueue, claim, ``started`` /
   ``progress`` / ``preview`` events and cancel checks at every step, PNG +
   WebP encoding and storage, result publication and its read by the client.
   Measured per job as (enqueue -> result read) minus the pipeline's own time,
   where the pipeline's own time is ``pipe(...)`` minus the time spent in
   Housify's step callback — so the share does not depend on how loaded the
   machine is between runs. Target: <= 3 % of the pipeline time.

    python bench/ai_sd15.py [--size 512] [--steps 4] [--jobs 2] [--redis-url redis://127.0.0.1:6379/0]

Needs ~6 GB of memory and ~4 GB of temporary disk; on 2 cores a 512 px job of
4 steps takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sd15_arch import build_pipeline, parameter_count  # noqa: E402


class TimedEngine:
    """Wraps ``engine.generate`` to record each run's pipeline seconds, callback seconds and step times."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.runs: list[dict[str, float | list[float]]] = []
        inner = engine.generate

        def generate(pipe, args, seed, on_step, lora=None):
            spent = 0.0
            stamps: list[float] = []

            def timed(step, total, latents):
                nonlocal spent
                stamps.append(time.perf_counter())
                started = time.perf_counter()
                try:
                    return on_step(step, total, latents)
                finally:
                    spent += time.perf_counter() - started

            image, stats = inner(pipe, args, seed, timed, lora)
            self.runs.append({"pipeline": stats.seconds, "callbacks": spent, "stamps": stamps})
            return image, stats

        engine.generate = generate


async def through_queue(
    engine, redis_url: str, storage: str, size: int, steps: int, jobs: int
) -> list[dict[str, float]]:
    """Run ``jobs`` text2img jobs one at a time through the real queue; per job: e2e, pipeline, callbacks."""
    import redis.asyncio as aioredis

    from housify_ai.contract import JobRequest, StreamKeys, enqueue_job
    from housify_ai.jobs import ImageJobHandler
    from housify_ai.settings import AISettings
    from housify_ai.worker import Worker
    from housify_common.storage import DirectoryStore

    prefix = f"housify-bench-{secrets.token_hex(4)}:"
    keys = StreamKeys(prefix)
    client = aioredis.Redis.from_url(redis_url)
    settings = AISettings(
        redis_url=redis_url, redis_prefix=prefix, storage_dir=storage, ai_run_log=False, ai_block_ms=100
    )
    timed = TimedEngine(engine)
    handler = ImageJobHandler(settings, engine, DirectoryStore(settings.storage_path))
    worker = Worker(settings, handler, client=client)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    out = []
    try:
        for i in range(jobs):
            request = JobRequest.from_flat(
                {
                    "job_id": f"sd15-{i}",
                    "user_id": "bench",
                    "prompt": "a bright scandinavian living room",
                    "task": "text2img",
                    "width": size,
                    "height": size,
                    "steps": steps,
                    "seed": i,
                }
            )
            started = time.perf_counter()
            await enqueue_job(client, keys, request)
            while not await client.exists(keys.result(request.job_id)):  # noqa: ASYNC110 - polling Redis, not a local flag
                await asyncio.sleep(0.005)
            entries = await client.xrange(keys.results())
            e2e = time.perf_counter() - started
            status = entries[-1][1][b"result"]
            assert b'"succeeded"' in status, status
            run = timed.runs[-1]
            out.append({"e2e": e2e, "pipeline": float(run["pipeline"]), "callbacks": float(run["callbacks"])})
    finally:
        stop.set()
        await task
        found = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if found:
            await client.delete(*found)
        await client.aclose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2, help="jobs through the queue (one at a time)")
    parser.add_argument("--redis-url", default=os.environ.get("HOUSIFY_REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--tiny", action="store_true", help="the tiny architecture (a smoke run)")
    args = parser.parse_args()

    import torch

    from housify_ai.diffusion import DiffusionEngine

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} at start"
    )
    with tempfile.TemporaryDirectory(prefix="housify-sd15-") as tmp:
        t0 = time.perf_counter()
        pipe = build_pipeline(tiny=args.tiny)
        sizes = parameter_count(pipe)
        pipe.save_pretrained(f"{tmp}/sd15", safe_serialization=True)
        del pipe
        engine = DiffusionEngine(Path(f"{tmp}/sd15"), "cpu")
        print(
            f"SD 1.5 architecture{' (tiny)' if args.tiny else ''}, random weights: "
            + ", ".join(f"{k} {v / 1e6:.0f} M" for k, v in sizes.items())
            + f" parameters; built, saved and loaded in {time.perf_counter() - t0:.0f} s"
        )

        # 1. Seconds per step, direct call.
        stamps: list[float] = []
        args_ = {
            "prompt": "a bright kitchen",
            "num_inference_steps": args.steps,
            "guidance_scale": 7.5,
            "width": args.size,
            "height": args.size,
        }
        _, stats = engine.generate(
            engine.pipeline_for("text2img"), args_, 0, lambda *_: stamps.append(time.perf_counter()) and False
        )
        intervals = [b - a for a, b in itertools.pairwise(stamps)]
        per_step = statistics.median(intervals) if intervals else stats.seconds
        rest = stats.seconds - per_step * len(stamps)
        print(
            f"direct: {args.size} px x {args.steps} steps in {stats.seconds:.1f} s; "
            f"{per_step:.2f} s per step (median of {len(intervals)} intervals); "
            f"text encoding + VAE decode + first step overhead {rest:.1f} s"
        )

        # 2. Housify's overhead through the queue.
        runs = asyncio.run(through_queue(engine, args.redis_url, f"{tmp}/storage", args.size, args.steps, args.jobs))
    shares = []
    for i, run in enumerate(runs):
        own = run["pipeline"] - run["callbacks"]
        overhead = run["e2e"] - own
        shares.append(overhead / own)
        print(
            f"queued job {i}: end to end {run['e2e']:.2f} s, pipeline {own:.2f} s, "
            f"Housify {overhead * 1000:.0f} ms (step callbacks {run['callbacks'] * 1000:.0f} ms) = {100 * overhead / own:.2f} %"
        )
    print(
        f"Housify overhead at {args.size} px x {args.steps} steps: median {100 * statistics.median(shares):.2f} % "
        f"of pipeline time (target <= 3 %); load average {os.getloadavg()[0]:.1f} at the end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
