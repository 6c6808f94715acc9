"""A running job past its task's deadline fails with ``deadline: ...`` and ``expired="run"``, whether
its handler reports steps (it stops at the next one) or not (it is cancelled after a grace period);
the worker then carries on."""

from __future__ import annotations

import asyncio

from housify_ai.contract import JobResult
from housify_ai.errors import JobCancelled


async def stepping(ctx) -> JobResult:
    """A handler that reports a step every 50 ms and stops when told, as the diffusion handlers do."""
    for step in range(1000):
        if await ctx.progress(step, 1000):
            raise JobCancelled()
        await asyncio.sleep(0.05)
    raise AssertionError("ran to the end")


async def silent(ctx) -> JobResult:
    """A handler that reports nothing (a native call): only the timeout can end it."""
    await asyncio.sleep(600)
    raise AssertionError("ran to the end")


async def test_a_job_past_its_deadline_fails_and_the_worker_carries_on(rig, monkeypatch):
    from housify_ai import worker as worker_module

    monkeypatch.setattr(worker_module, "DEADLINE_GRACE_SECONDS", 0.5)
    async with rig.worker(handlers={"upscale": stepping}, ai_deadlines=["upscale=0.5"]):
        job = await rig.enqueue(task="upscale", prompt="", source_key="uploads/a.png")
        result = await rig.result(job.job_id, timeout=30)
        assert (result.status, result.expired) == ("failed", "run")
        assert result.error.startswith("deadline: upscale may run at most 0 s on a worker and this job ran longer")
        events = await rig.events(job.job_id)
        assert events[-1].type == "failed" and events[-1].message == result.error
        assert 0.4 < result.finished_at - result.started_at < 5

        after = await rig.enqueue()  # the worker is free again
        assert (await rig.result(after.job_id)).status == "succeeded"

    async with rig.worker(handlers={"upscale": silent}, ai_deadlines=["upscale=0.5"]):
        job = await rig.enqueue(task="upscale", prompt="", source_key="uploads/b.png")
        result = await rig.result(job.job_id, timeout=30)
    assert (result.status, result.expired) == ("failed", "run")
    assert 0.9 < result.finished_at - result.started_at < 5


async def test_cancelling_before_the_deadline_is_still_a_cancellation(rig):
    from housify_ai.contract import request_cancel

    async with rig.worker(handlers={"upscale": stepping}, ai_deadlines=["upscale=60"]):
        job = await rig.enqueue(task="upscale", prompt="", source_key="uploads/c.png")
        await rig.wait_event(job.job_id, "progress")
        await request_cancel(rig.client, rig.keys, job.job_id)
        result = await rig.result(job.job_id, timeout=30)
    assert (result.status, result.expired) == ("cancelled", None)
