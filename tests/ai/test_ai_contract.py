"""The API <-> AI contract: validation names the field, no torch or redis import, key names."""

from __future__ import annotations

import subprocess
import sys

import msgspec
import pytest

from housify_ai.contract import JobRequest, JobResult, StreamKeys, decode_request, decode_result, encode

BASE = {"job_id": "0b5c4a3e-1f2d-4c6b-9a8e-7d6c5b4a3f2e", "user_id": "42", "prompt": "a reading nook"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"width": 100}, "width"),
        ({"height": 2048}, "height"),
        ({"width": 56}, "width"),
        ({"steps": 0}, "steps"),
        ({"steps": 1000}, "steps"),
        ({"guidance_scale": -1}, "guidance_scale"),
        ({"strength": 0}, "strength"),
        ({"seed": -5}, "seed"),
        ({"seed": 2**40}, "seed"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"task": "paint"}, "task"),
        ({"task": "img2img"}, "source_key"),
        ({"task": "inpaint", "source_key": "uploads/a.png"}, "mask_key"),
        ({"task": "img2img", "source_key": "uploads/a.png", "mask_key": "uploads/m.png"}, "mask_key"),
        ({"source_key": "uploads/a.png"}, "source_key"),
        ({"task": "img2img", "source_key": "../etc/passwd"}, "source_key"),
        ({"task": "img2img", "source_key": "uploads/a.png", "steps": 2, "strength": 0.3}, "strength"),
        ({"job_id": "has space"}, "job_id"),
        ({"level": ""}, "level"),
    ],
)
def test_invalid_parameters_are_refused_naming_the_field(change, field):
    with pytest.raises(msgspec.ValidationError) as info:
        JobRequest.from_flat({**BASE, **change})
    assert field in str(info.value)


def test_valid_request_round_trips_and_defaults():
    request = JobRequest.from_flat(
        {**BASE, "task": "inpaint", "source_key": "uploads/a.png", "mask_key": "uploads/m.png"}
    )
    assert decode_request(encode(request)) == request
    assert msgspec.to_builtins(request.params) == {  # the task's parameter Struct, defaults filled in
        "width": 512, "height": 512, "steps": 25, "guidance_scale": 7.5, "lora": None, "lora_scale": None, "strength": 0.75
    }  # fmt: skip
    assert (request.v, request.level, request.seed, request.total_steps()) == (2, "Free-Tier", None, 18)


def test_result_round_trip():
    result = JobResult(job_id="j", status="succeeded", image_key="images/x.png", seed=3)
    assert decode_result(encode(result)) == result


def test_contract_imports_neither_torch_nor_redis():
    code = "import sys, housify_ai.contract; print(sorted(m for m in ('torch', 'redis', 'diffusers', 'llama_cpp') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_key_names_follow_the_prefix():
    keys = StreamKeys("housify")
    assert keys.jobs("Pro-Tier") == "housify:ai:jobs:Pro-Tier"
    assert keys.events("j1") == "housify:ai:events:j1"
    assert keys.results() == "housify:ai:results"
    assert keys.cancel("j1") == "housify:ai:cancel:j1"
    assert keys.levels() == "housify:ai:levels"


def test_prompt_assist_accepts_the_earlier_room_field():
    from housify_ai.contract import PromptAssistRequest

    request = msgspec.convert({"idea": "cosy", "room": "bedroom"}, PromptAssistRequest)
    assert (request.room_type, request.room) == ("bedroom", None)


def test_stream_replies_are_read_as_resp2_and_a_resp3_reply_is_refused():
    from housify_ai.contract import stream_reply

    entries = [[b"housify:ai:events:j1", [(b"1-0", {b"event": b"{}"})]]]
    assert stream_reply(entries) is entries
    assert stream_reply(None) == [] and stream_reply([]) == []  # a blocking read that ran out
    with pytest.raises(TypeError, match="RESP3"):  # a protocol=3 client: a dict by stream
        stream_reply({b"housify:ai:events:j1": [(b"1-0", {b"event": b"{}"})]})
