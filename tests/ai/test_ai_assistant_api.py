"""The prompt assistant on the real SmolLM2 model and the internal HTTP API."""

from __future__ import annotations

import json

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from housify_ai.contract import PromptAssistRequest

KEYS = {"prompt", "negative_prompt", "notes"}


@pytest.fixture(scope="session")
def smol_assistant(smollm2):
    from housify_ai.assistant import PromptAssistant

    return PromptAssistant(smollm2, threads=2, max_tokens=256)


@pytest.fixture
async def api(ai_settings, smol_assistant):
    from housify_ai.app import create_app

    app = create_app(ai_settings, assistant=smol_assistant)  # its own Redis client: the test client runs the app on another loop
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.mark.slow
async def test_smollm2_answers_with_schema_valid_strict_json(smol_assistant):
    ideas = [PromptAssistRequest(idea="a cosy scandinavian living room for winter evenings", room="living room", style="scandinavian")]
    for idea in ideas:
        raw = msgspec.json.encode(await smol_assistant.assist(idea)).decode()
        data = json.loads(raw)
        assert set(data) == KEYS
        assert data["prompt"].strip()


def test_raw_grammar_output_is_strict_json(smol_assistant):
    """The constrained completion itself (before any clean-up) parses with strict json.loads."""
    from housify_ai.assistant import SYSTEM_PROMPT

    for temperature in (1.0,):
        reply = smol_assistant.llama.create_chat_completion(
            messages=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "Idea: attic bedroom"}],
            grammar=smol_assistant.grammar,
            temperature=temperature,
            max_tokens=256,
        )
        data = json.loads(reply["choices"][0]["message"]["content"], strict=True)
        assert set(data) == KEYS and all(isinstance(v, str) for v in data.values())


def test_control_characters_are_excluded_from_the_grammar():
    from housify_ai.assistant import RESPONSE_SCHEMA, json_grammar

    char_rule = next(line for line in json_grammar(RESPONSE_SCHEMA).splitlines() if line.startswith("char ::="))
    assert "\\x00-\\x1F" in char_rule


async def test_tiny_gguf_loads_and_answers_or_says_unavailable(tiny_models):
    """The tiny model babbles, but through the grammar either valid JSON or a clean error comes out."""
    from housify_ai.assistant import AssistantUnavailable, PromptAssistant

    tiny = PromptAssistant(tiny_models / "tiny-llama.gguf", threads=1, context=2048, max_tokens=128)
    assert tiny.describe()["name"] == "housify-tiny-llama"
    try:
        answer = await tiny.assist(PromptAssistRequest(idea="a loft"))
    except AssistantUnavailable as exc:
        assert "no usable answer" in str(exc)
    else:
        assert set(json.loads(msgspec.json.encode(answer))) == KEYS


def test_missing_or_non_gguf_model_is_refused(tmp_path):
    from housify_ai.assistant import PromptAssistant
    from housify_ai.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="HOUSIFY_AI_LLM_MODEL=.*no such GGUF file"):
        PromptAssistant(tmp_path / "missing.gguf")
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError, match="not a GGUF file"):
        PromptAssistant(bogus)


async def test_health(api):
    response = await api.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.slow
async def test_post_prompts_assist_returns_strict_json(api):
    response = await api.post("/prompts/assist", json={"idea": "a bright home office", "style": "japandi"})
    assert response.status_code == 200, response.text
    data = json.loads(response.text)
    assert set(data) == KEYS and data["prompt"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"idea": ""}, "idea"), ({"idea": "   "}, "idea"), ({"idea": "x" * 1001}, "idea"), ({"idea": "ok", "room": 5}, "room"), ({}, "idea")],
)
async def test_post_prompts_assist_bad_input_is_400_naming_the_field(api, body, field):
    response = await api.post("/prompts/assist", json=body)
    assert response.status_code == 400
    assert field in response.text


async def test_models_lists_the_llm_and_the_workers_diffusion_model(api, rig):
    import asyncio

    async with rig.worker(ai_visibility_timeout=0.3) as worker:
        for _ in range(100):
            if await rig.client.hget(rig.keys.workers(), worker.settings.consumer_name):
                break
            await asyncio.sleep(0.05)
        response = await api.get("/models")
    assert response.status_code == 200
    body = response.json()
    assert body["models"][0]["kind"] == "llm" and body["models"][0]["dtype"] == "Q4_1"
    worker_models = [m for w in body["workers"] for m in w["models"]]
    assert {"kind": "diffusion", "name": "tiny-sd", "device": "cpu", "dtype": "float32"}.items() <= worker_models[0].items()
    assert body["max_rss_bytes"] > 0 and body["redis"] == "ok"
