"""The task registry's tagged unions: ``POST /jobs`` bodies and the queue's requests, one Struct per task."""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Literal

import msgspec
import pytest
from litestar.exceptions import HTTPException

from housify_ai import contract
from housify_ai.tasks import REGISTRY, tagged_structs
from housify_api.media.schemas import JobBody, JobIn, body_fields


class BlendParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A made-up task reusing ``upscale``'s ``scale`` (there ``Literal[2, 4]``) and the diffusion tasks'
    ``strength`` (there a float) with other types."""

    scale: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    strength: Literal["soft", "hard"] = "soft"


def _with_blend() -> dict[str, typing.Any]:
    blend = dataclasses.replace(REGISTRY["upscale"], name="blend", params=BlendParams, check=None, levels=None)
    return {**REGISTRY, "blend": blend}


def test_a_parameter_name_reused_with_another_type_works(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = _with_blend()
    monkeypatch.setitem(REGISTRY, "blend", registry["blend"])  # registered, as its two source files would
    bodies = tagged_structs("JobIn", JobBody, body_fields, module=__name__, registry=registry)
    union = typing.Union[tuple(bodies.values())]  # noqa: UP007
    blend = msgspec.convert({"task": "blend", "scale": 0.25, "strength": "hard"}, union)
    upscale = msgspec.convert({"task": "upscale", "scale": 2}, union)
    assert (type(blend).__name__, blend.scale, blend.strength) == ("BlendJobIn", 0.25, "hard")
    assert (type(upscale).__name__, upscale.scale) == ("UpscaleJobIn", 2)
    with pytest.raises(msgspec.ValidationError, match="scale"):
        msgspec.convert({"task": "upscale", "scale": 0.25}, union)
    with pytest.raises(msgspec.ValidationError, match="strength"):
        msgspec.convert({"task": "img2img", "strength": "hard"}, union)
    requests = tagged_structs(
        "Request", contract.JobRequest, contract.request_fields, module=__name__, registry=registry
    )
    request = msgspec.convert(
        {"task": "blend", "job_id": "j1", "user_id": "u", "source_key": "images/a.png", "params": {"scale": 0.25}},
        typing.Union[tuple(requests.values())],  # noqa: UP007
    )
    assert request.params == BlendParams(scale=0.25)


def test_a_body_without_task_is_text2img_and_each_task_has_its_own_fields() -> None:
    body = JobIn.decode({"prompt": "a porch", "width": 64}).body
    assert (body.task, body.params(), body.text()) == ("text2img", {"width": 64}, ("a porch", ""))
    upscale = JobIn.decode({"task": "upscale", "scale": 2, "source_image_id": "00000000-0000-0000-0000-000000000001"})
    assert upscale.body.task == "upscale" and upscale.body.params() == {"scale": 2}
    assert set(upscale.body.image_ids()) == {"source"}
    flat = JobIn.decode({"task": "img2img", "prompt": "x", "source_image_id": upscale.body.image_ids()["source"],
                         "mask_image_id": None, "scale": None})  # fmt: skip
    assert flat.body.task == "img2img"  # another task's field sent as null is "not given", as in the flat body


@pytest.mark.parametrize(
    ("data", "status", "text"),
    [
        ({"strength": 0.5}, 422, "strength: task text2img takes no strength"),
        ({"task": "upscale", "prompt": "x", "source_image_id": "00000000-0000-0000-0000-000000000001"}, 422, "prompt"),
        ({"task": "img2img", "prompt": "x"}, 422, "source_image_id: required for task img2img"),
        ({"strength": "not a number"}, 400, "strength"),  # not valid for any task: the unknown field's 400
        ({"extra": 1}, 400, "extra"),
        ({"task": "paint"}, 400, "task"),
    ],
)
def test_what_a_task_does_not_take_is_refused(data: dict[str, object], status: int, text: str) -> None:
    if status == 422:
        with pytest.raises(HTTPException) as refused:
            JobIn.decode(data)
        assert refused.value.status_code == 422 and text in refused.value.detail
        assert refused.value.extra[0]["key"] == text.split(":")[0]  # type: ignore[index]
    else:
        with pytest.raises(msgspec.ValidationError, match=text):
            JobIn.decode(data)


def test_the_queue_message_is_protocol_2_as_before() -> None:
    """Requests are a tagged union now, but the JSON is what workers of the earlier build wrote and read."""
    written_before = (
        b'{"v":2,"job_id":"a","user_id":"u","task":"img2img","prompt":"x","negative_prompt":"",'
        b'"params":{"width":64,"height":512,"steps":25,"guidance_scale":7.5,"lora":null,"lora_scale":null,'
        b'"strength":0.75},"seed":null,"source_key":"images/a.png","mask_key":null,"control_key":null,'
        b'"watermark":false,"level":"Free-Tier","enqueued_at":0.0}'
    )
    request = contract.decode_request(written_before)
    assert type(request) is contract.REQUESTS["img2img"] and request.task == "img2img"
    assert request.options().strength == 0.75 and request.total_steps() == 18
    assert msgspec.json.decode(contract.encode(request)) == msgspec.json.decode(written_before)
    assert contract.PROTOCOL_VERSION == 2
    no_task = contract.decode_request(b'{"job_id":"b","user_id":"u","prompt":"x"}')
    assert no_task.task == "text2img" and no_task.params.width == 512
    with pytest.raises(msgspec.ValidationError, match="source_key: required for task img2img"):
        contract.decode_request(b'{"job_id":"c","user_id":"u","task":"img2img","prompt":"x"}')
