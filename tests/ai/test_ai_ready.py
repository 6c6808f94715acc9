"""The prompt assistant is warm before anyone asks: the AI server warms it up in the background at
start and ``GET /ready`` says so (503 ``warming up`` until then)."""

from __future__ import annotations

import asyncio

from litestar.testing import AsyncTestClient


async def test_ready_says_warming_up_then_ready(ai_settings, smollm2):
    from housify_ai.app import create_app
    from housify_ai.assistant import PromptAssistant

    assistant = PromptAssistant(smollm2, threads=2, max_tokens=256)
    app = create_app(ai_settings, assistant=assistant, warm=False)
    async with AsyncTestClient(app=app) as client:
        early = await client.get("/ready")
        for _ in range(600):
            response = await client.get("/ready")
            if response.status_code == 200:
                break
            await asyncio.sleep(0.1)
        body = response.json()
        assert response.status_code == 200 and body["status"] == "ready", body
        assert body["assistant"]["warmup_seconds"] > 0 and body["assistant"]["error"] is None
        assert early.json()["status"] in ("warming up", "ready")
        answer = await client.post("/prompts/assist", json={"idea": "a cosy attic bedroom"})
        assert answer.status_code == 200


async def test_a_given_assistant_is_ready_at_once(ai_settings, smollm2):
    from housify_ai.app import create_app
    from housify_ai.assistant import PromptAssistant

    assistant = PromptAssistant(smollm2, threads=2, max_tokens=256)
    async with AsyncTestClient(app=create_app(ai_settings, assistant=assistant)) as client:
        response = await client.get("/ready")
    assert response.status_code == 200 and response.json()["assistant"]["warmup_seconds"] is None
