"""Crash safety and fairness of the queue: SIGKILL mid-job, heartbeats, retry limit, priority, bad models."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from housify_ai.contract import WORKER_GROUP, ensure_groups, publish_levels
from housify_ai.queue import JobQueue


def _worker_env(settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOUSIFY_REDIS_URL=settings.redis_url,
        HOUSIFY_REDIS_PREFIX=settings.redis_prefix,
        HOUSIFY_STORAGE_DIR=settings.storage_dir,
        HOUSIFY_AI_DIFFUSION_MODEL=settings.ai_diffusion_model,
        HOUSIFY_AI_DEVICE="cpu",
        HOUSIFY_AI_VISIBILITY_TIMEOUT="1",
        HOUSIFY_AI_BLOCK_MS="100",
    )
    env.update(extra)
    return env


@pytest.mark.slow
async def test_job_of_a_sigkilled_worker_is_taken_over_and_completed(rig):
    proc = subprocess.Popen(
        [sys.executable, "-m", "housify_ai.cli", "worker"],
        env=_worker_env(rig.settings, HOUSIFY_AI_CONSUMER="doomed-worker"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        request = await rig.enqueue(steps=60, seed=11)
        first = await rig.wait_event(request.job_id, "progress", timeout=90)
        assert first.attempt == 1
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    pending = await rig.client.xpending(rig.keys.jobs("Free-Tier"), WORKER_GROUP)
    assert pending["pending"] == 1  # the dead worker's job is still there, unacknowledged

    async with rig.worker():
        result = await rig.result(request.job_id, timeout=60)
    assert result.status == "succeeded", result.error
    assert result.attempts == 2 and result.seed == 11
    started = [e.attempt for e in await rig.events(request.job_id) if e.type == "started"]
    assert started == [1, 2]
    assert (await rig.client.xpending(rig.keys.jobs("Free-Tier"), WORKER_GROUP))["pending"] == 0


async def test_heartbeat_keeps_a_long_job_from_being_taken_over(rig):
    async with rig.worker(ai_visibility_timeout=0.3):
        request = await rig.enqueue(steps=40, width=128, height=128)
        await rig.wait_event(request.job_id, "progress")
        rival = JobQueue(rig.client, rig.keys, "rival", visibility_timeout=0.3, block_ms=10)
        await rival.setup()
        stolen = []
        while not [e for e in await rig.events(request.job_id) if e.type == "succeeded"]:
            delivery = await rival._reclaim_stale()
            if delivery is not None:
                stolen.append(delivery)
            await asyncio.sleep(0.1)
        result = await rig.result(request.job_id)
    assert stolen == []
    assert result.status == "succeeded" and result.attempts == 1


async def test_retry_limit_fails_a_job_whose_workers_keep_dying(rig):
    """Two consumers claim the job and vanish; with a limit of 2 the third delivery fails it."""
    await ensure_groups(rig.client, rig.keys)
    request = await rig.enqueue()
    stream = rig.keys.jobs("Free-Tier")
    await rig.client.xreadgroup(WORKER_GROUP, "dead-1", {stream: ">"}, count=1)
    await asyncio.sleep(0.35)
    claimed = await rig.client.xautoclaim(stream, WORKER_GROUP, "dead-2", 300, "0-0", count=1)
    assert len(claimed[1]) == 1
    await asyncio.sleep(0.35)
    async with rig.worker(ai_visibility_timeout=0.3, ai_retry_limit=2):
        result = await rig.result(request.job_id)
    assert result.status == "failed"
    assert "gave up after 2 attempts" in result.error and "retry limit 2" in result.error
    assert result.attempts == 3
    events = await rig.events(request.job_id)
    assert [e.type for e in events] == ["queued", "failed"] and "retry limit" in events[-1].message
    assert (await rig.client.xpending(stream, WORKER_GROUP))["pending"] == 0


async def _claim_levels(rig, count: int) -> list[str]:
    queue = JobQueue(rig.client, rig.keys, "fair", block_ms=10)
    await queue.setup()
    levels = []
    for _ in range(count):
        delivery = await queue.claim()
        levels.append(delivery.level)
        await queue.ack(delivery)
    return levels


async def test_pro_is_served_ahead_of_free_in_proportion_to_its(rig):
    for _ in range(6):  # Free jobs arrive first
        await rig.enqueue(level="Free-Tier")
    for _ in range(6):
        await rig.enqueue(level="Pro-Tier")
    levels = await _claim_levels(rig, 12)
    assert levels[0] == "Pro-Tier"
    assert levels[:9].count("Pro-Tier") == 6 and levels[:9].count("Free-Tier") == 3  # its 5.0 : 2.5
    assert levels[9:] == ["Free-Tier"] * 3  # the rest once Pro is empty


async def test_level_weights_come_from_the_registry(rig):
    await publish_levels(rig.client, rig.keys, {"Free-Tier": 1.0, "Pro-Tier": 3.0, "Team": 0.5})
    for level in ("Free-Tier", "Pro-Tier", "Team"):
        for _ in range(8):
            await rig.enqueue(level=level)
    levels = await _claim_levels(rig, 9)
    assert (levels.count("Pro-Tier"), levels.count("Free-Tier"), levels.count("Team")) == (6, 2, 1)


async def test_idle_level_banks_no_credit(rig):
    """Pro served alone for a while must not starve Free afterwards, nor Free flood Pro."""
    for _ in range(5):
        await rig.enqueue(level="Pro-Tier")
    assert await _claim_levels(rig, 5) == ["Pro-Tier"] * 5
    for _ in range(4):
        await rig.enqueue(level="Free-Tier")
        await rig.enqueue(level="Pro-Tier")
    levels = await _claim_levels(rig, 6)
    assert levels.count("Pro-Tier") == 4 and levels.count("Free-Tier") == 2


def test_missing_model_folder_is_refused_at_load(tmp_path):
    from housify_ai.diffusion import DiffusionEngine
    from housify_ai.errors import ModelLoadError

    with pytest.raises(
        ModelLoadError,
        match=r"HOUSIFY_AI_DIFFUSION_MODEL=.*nowhere: not a diffusers pipeline folder \(no model_index.json\)",
    ):
        DiffusionEngine(tmp_path / "nowhere", "cpu")


@pytest.mark.slow
async def test_corrupt_model_folder_stops_the_worker_at_start(rig, tmp_path):
    broken = tmp_path / "broken-sd"
    shutil.copytree(rig.settings.ai_diffusion_model, broken)
    weights = broken / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    env = _worker_env(rig.settings, HOUSIFY_AI_DIFFUSION_MODEL=str(broken))
    request = await rig.enqueue()
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "housify_ai.cli",
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 2
    message = stderr.decode()
    assert "HOUSIFY_AI_DIFFUSION_MODEL" in message and "cannot load the pipeline" in message and str(broken) in message
    assert time.monotonic() - started < 120
    # It never touched the queue: the job is still waiting for a healthy worker.
    assert await rig.results() == []
    assert [e.type for e in await rig.events(request.job_id)] == ["queued"]


async def test_job_whose_result_could_not_be_published_is_retried(rig, monkeypatch):
    """Fault injection: Redis drops the connection once at the finish; the entry goes stale and is run again."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    real_finish = JobQueue.finish
    calls = {"n": 0}

    async def finish_fails_once(self, delivery, result, event):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RedisConnectionError("Connection closed by server.")
        return await real_finish(self, delivery, result, event)

    monkeypatch.setattr(JobQueue, "finish", finish_fails_once)
    async with rig.worker(ai_visibility_timeout=0.5):
        request = await rig.enqueue(seed=9)
        result = await rig.result(request.job_id)
    assert result.status == "succeeded" and result.attempts == 2
    assert [e.attempt for e in await rig.events(request.job_id) if e.type == "started"] == [1, 2]
    assert (await rig.client.xpending(rig.keys.jobs("Free-Tier"), WORKER_GROUP))["pending"] == 0


async def test_job_that_lost_redis_mid_run_is_retried_not_failed(rig, monkeypatch):
    """Fault injection: Redis drops the connection at a progress event (a Redis restart); the job runs again."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    real_emit = JobQueue.emit_and_check_cancel
    calls = {"n": 0}

    async def emit_fails_once(self, job_id, events):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RedisConnectionError("Connection closed by server.")
        return await real_emit(self, job_id, events)

    monkeypatch.setattr(JobQueue, "emit_and_check_cancel", emit_fails_once)
    async with rig.worker(ai_visibility_timeout=0.5):
        request = await rig.enqueue(seed=9)
        result = await rig.result(request.job_id)
    assert result.status == "succeeded" and result.attempts == 2, result.error


async def test_short_store_outage_is_ridden_out_by_retrying_the_write(rig, monkeypatch):
    """Fault injection: the image store refuses the first put (S3 restarting); the worker writes again, no recompute."""
    from housify_common.storage import DirectoryStore, StorageUnavailable

    real_put = DirectoryStore.put
    calls = {"n": 0}

    async def put_fails_once(self, key, data):
        calls["n"] += 1
        if calls["n"] == 1:
            raise StorageUnavailable("s3://housify: put: connection refused")
        return await real_put(self, key, data)

    monkeypatch.setattr(DirectoryStore, "put", put_fails_once)
    async with rig.worker(ai_visibility_timeout=0.5):
        request = await rig.enqueue(seed=9)
        result = await rig.result(request.job_id)
    assert result.status == "succeeded" and result.attempts == 1, result.error
    assert calls["n"] == 3  # the picture twice (refused, then stored), the thumbnail once


async def test_job_whose_result_could_not_be_stored_is_retried_not_failed(rig, monkeypatch):
    """Fault injection: the store stays down past the write-retry window; the job stays pending and runs again."""
    from housify_ai import outputs
    from housify_common.storage import StorageUnavailable

    real_put_with_retry = outputs.put_with_retry
    calls = {"n": 0}

    async def outage_outlasts_the_retries(store, key, data, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise StorageUnavailable("s3://housify: put: connection refused")
        return await real_put_with_retry(store, key, data, **kwargs)

    monkeypatch.setattr(outputs, "put_with_retry", outage_outlasts_the_retries)
    async with rig.worker(ai_visibility_timeout=0.5):
        request = await rig.enqueue(seed=9)
        result = await rig.result(request.job_id)
    assert result.status == "succeeded" and result.attempts == 2, result.error


async def test_idle_consumers_without_pending_jobs_are_pruned(rig):
    await ensure_groups(rig.client, rig.keys)
    stream = rig.keys.jobs("Free-Tier")
    await rig.enqueue()
    await rig.enqueue()
    await rig.client.xreadgroup(WORKER_GROUP, "crashed-with-a-job", {stream: ">"}, count=1)
    reply = await rig.client.xreadgroup(WORKER_GROUP, "gone-idle", {stream: ">"}, count=1)
    await rig.client.xack(stream, WORKER_GROUP, reply[0][1][0][0])  # finished its job, then went away
    await asyncio.sleep(0.15)
    queue = JobQueue(rig.client, rig.keys, "fresh")
    await queue.setup()
    assert await queue.prune_consumers(idle_ms=100) == ["gone-idle"]
    names = {c["name"].decode() for c in await rig.client.xinfo_consumers(stream, WORKER_GROUP)}
    assert "crashed-with-a-job" in names and "gone-idle" not in names


async def test_late_heartbeat_does_not_claim_back_a_job_taken_over(rig):
    await ensure_groups(rig.client, rig.keys)
    stream = rig.keys.jobs("Free-Tier")
    await rig.enqueue()
    stalled = JobQueue(rig.client, rig.keys, "stalled", visibility_timeout=0.1, block_ms=10)
    await stalled.setup()
    delivery = await stalled.claim()
    await asyncio.sleep(0.2)  # the stall: longer than the visibility timeout
    rescuer = JobQueue(rig.client, rig.keys, "rescuer", visibility_timeout=0.1, block_ms=10)
    await rescuer.setup()
    assert (await rescuer.claim()).entry_id == delivery.entry_id
    assert await stalled.heartbeat() == 0
    pending = await rig.client.xpending_range(stream, WORKER_GROUP, min="-", max="+", count=10)
    assert [p["consumer"] for p in pending] == [b"rescuer"]
