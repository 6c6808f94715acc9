"""Issue 21 "Also": the AI server's internal API takes a credential the API holds (defence in depth behind
the network). Fails on 02e5a16, whose internal API answered anyone who could reach it."""

from __future__ import annotations

import httpx
from litestar.testing import AsyncTestClient

from housify_ai.assistant import PromptAssistant
from housify_ai.contract import PromptAssistRequest, PromptAssistResponse

TOKEN = "internal-credential-for-tests"


class _Assistant(PromptAssistant):
    """No model: answers with the idea (the handler's type check wants a PromptAssistant)."""

    def __init__(self) -> None:
        pass

    async def assist(self, request: PromptAssistRequest) -> PromptAssistResponse:
        return PromptAssistResponse(prompt=request.idea, negative_prompt="", notes="")

    def describe(self) -> dict[str, object]:
        return {"name": "stub"}


async def test_the_internal_api_needs_the_token_but_health_does_not() -> None:
    import fakeredis

    from housify_ai.app import create_app
    from housify_ai.settings import AISettings

    app = create_app(AISettings(ai_api_token=TOKEN), assistant=_Assistant(), redis=fakeredis.FakeAsyncRedis())
    body = {"idea": "a calm bedroom"}
    async with AsyncTestClient(app=app) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.post("/prompts/assist", json=body)).status_code == 401
        wrong = await client.post("/prompts/assist", json=body, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert (await client.get("/models")).status_code == 401
        ok = await client.post("/prompts/assist", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["prompt"] == "a calm bedroom"


def test_the_api_sends_it(tmp_path) -> None:  # noqa: ANN001
    from housify_api.media.services import build_media_services
    from housify_api.settings import load_api_settings
    from housify_common.redis import RedisKeys, redis_from_url

    settings = load_api_settings(
        ai_url="http://127.0.0.1:9", ai_api_token=TOKEN, data_dir=str(tmp_path), storage_dir=str(tmp_path / "s")
    )
    media = build_media_services(settings, redis_from_url(""), RedisKeys("t:"))
    assert isinstance(media.ai, httpx.AsyncClient)
    assert media.ai.headers["authorization"] == f"Bearer {TOKEN}"
