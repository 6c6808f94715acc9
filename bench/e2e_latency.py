"""Time from ``POST /jobs`` to the WebSocket's ``succeeded`` event vs the bare diffusers pipeline.

    python bench/e2e_latency.py [--jobs 10] [--size 128] [--steps 8]

Builds the tiny models (``housify-ai models build-tiny``) and loads the bare
text2img pipeline in this process (same size, steps and seed), then runs the
product, alternating one bare call and one job so both see the same machine
load (the first round is a warm-up): ``housify-api serve`` and ``housify-ai
worker`` as child processes on a throw-away PostgreSQL database and the local
Redis. Each job is submitted over HTTP and watched on its WebSocket until
``succeeded`` (which the API sends once the result is recorded in
PostgreSQL). Printed: p50/p90 of both, the service's own inference time
(the job's ``started_at`` to ``finished_at`` as the worker reported them), and the overhead ratio
end-to-end / bare pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import e2e_support
import httpx

PASSWORD = "bench-password-long-enough-1"
SETTLE_SECONDS = 1.0


class BarePipeline:
    """The same tiny text2img pipeline called directly (diffusers, CPU float32, seeded)."""

    def __init__(self, model: Path, size: int, steps: int) -> None:
        import torch
        from diffusers import AutoPipelineForText2Image

        self.torch = torch
        self.pipe = AutoPipelineForText2Image.from_pretrained(str(model), torch_dtype=torch.float32).to("cpu")
        self.pipe.set_progress_bar_config(disable=True)
        self.size, self.steps = size, steps

    def time_one(self, seed: int) -> float:
        generator = self.torch.Generator("cpu").manual_seed(seed)
        t0 = time.perf_counter()
        with self.torch.inference_mode():
            self.pipe(
                "a bright living room",
                width=self.size,
                height=self.size,
                num_inference_steps=self.steps,
                guidance_scale=7.5,
                generator=generator,
            )
        return time.perf_counter() - t0


async def through_the_service(
    base_url: str, jobs: int, bare: BarePipeline
) -> tuple[list[float], list[float], list[float]]:
    """Alternates one bare pipeline call and one job through the service, so both see the same machine load."""
    from websockets.asyncio.client import connect

    email = f"bench-{secrets.token_hex(4)}@example.com"
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        (await http.post("/auth/register", json={"email": email, "password": PASSWORD})).raise_for_status()
        token = (await http.post("/auth/token", data={"username": email, "password": PASSWORD})).json()["access_token"]
        # Pro-Tier: 60 jobs an hour instead of 6; tokens carry the level, so log in again
        pro = await http.put(
            "/users/me/subscription",
            json={"subscription_level": "Pro-Tier"},
            headers={"Authorization": f"Bearer {token}"},
        )
        pro.raise_for_status()
        token = (await http.post("/auth/token", data={"username": email, "password": PASSWORD})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        body = {
            "prompt": "a bright living room",
            "width": bare.size,
            "height": bare.size,
            "steps": bare.steps,
            "guidance_scale": 7.5,
        }
        ws_base = base_url.replace("http", "ws", 1)
        totals, ids, direct = [], [], []
        for n in range(jobs + 1):
            # OpenMP threads spin for a while after a torch call: let the other process's go quiet first
            await asyncio.sleep(SETTLE_SECONDS)
            bare_seconds = bare.time_one(n)
            await asyncio.sleep(SETTLE_SECONDS)
            t0 = time.perf_counter()
            response = await http.post("/jobs", json={**body, "seed": n}, headers=headers)
            response.raise_for_status()
            job_id = response.json()["id"]
            async with connect(f"{ws_base}/jobs/{job_id}/events", subprotocols=["bearer", token]) as ws:
                async for message in ws:
                    event = json.loads(message)
                    if event["type"] in ("succeeded", "failed", "cancelled"):
                        break
            assert event["type"] == "succeeded", event
            if n:  # the first round warms up both
                totals.append(time.perf_counter() - t0)
                ids.append(job_id)
                direct.append(bare_seconds)
    from housify_api.media.tables import Job

    rows = await Job.select(Job.id, Job.started_at, Job.finished_at).where(Job.id.is_in(ids))
    worker = {str(r["id"]): (r["finished_at"] - r["started_at"]).total_seconds() for r in rows}
    return totals, [worker[job_id] for job_id in ids], direct


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10, help="at most 59 (Pro-Tier's 60 jobs an hour, one warm-up)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    root = Path(f"/tmp/{e2e_support.DB_NAME}")
    models = root / "models"
    subprocess.run(
        [sys.executable, "-m", "housify_ai.cli", "models", "build-tiny", str(models)], check=True, capture_output=True
    )
    model = models / "tiny-sd"

    pipeline = BarePipeline(model, args.size, args.steps)
    from housify_common.db import migrate_all

    asyncio.run(migrate_all())
    env = {
        "HOUSIFY_STORAGE_DIR": str(root / "storage"),
        "HOUSIFY_AI_DIFFUSION_MODEL": str(model),
        "HOUSIFY_AI_DEVICE": "cpu",
        "HOUSIFY_DATA_DIR": str(root),
        "HOUSIFY_AI_CONSUMER": "bench-worker",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "housify_ai.cli", "worker"],
        env={**os.environ, **env},
        stdout=(root / "worker.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        with e2e_support.api_process(**env) as base_url:
            totals, inference, bare = asyncio.run(_with_pool(through_the_service(base_url, args.jobs, pipeline)))
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    def fmt(values: list[float]) -> str:
        return (
            f"p50 {statistics.median(values) * 1000:7.1f} ms   p90 {e2e_support.percentile(values, 90) * 1000:7.1f} ms"
        )

    print(
        f"tiny text2img {args.size}x{args.size}, {args.steps} steps, {args.jobs} jobs, CPU, {os.cpu_count()} cores (shared):"
    )
    print(f"  bare pipeline call              {fmt(bare)}")
    print(f"  worker start -> finish          {fmt(inference)}")
    print(f"  POST /jobs -> WS succeeded      {fmt(totals)}")
    print(
        f"  overhead ratio (e2e / bare, p50) {statistics.median(totals) / statistics.median(bare):.2f}"
        f"   (+{(statistics.median(totals) - statistics.median(bare)) * 1000:.0f} ms)"
    )
    around = [t - i for t, i in zip(totals, inference, strict=True)]
    print(f"  around the worker (e2e - worker start->finish, p50) {statistics.median(around) * 1000:.0f} ms")


async def _with_pool(coro):  # noqa: ANN001, ANN202
    from housify_api.media.tables import Job

    await Job._meta.db.start_connection_pool()
    try:
        return await coro
    finally:
        await Job._meta.db.close_connection_pool()


if __name__ == "__main__":
    try:
        main()
    finally:
        e2e_support.cleanup()
