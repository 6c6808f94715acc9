"""Issue 20: job events are a msgspec tagged union on ``type`` (one Struct per event type, each with only
its own fields), published as ``oneOf`` with a discriminator; the JSON stays protocol 2's."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal
from uuid import UUID

import msgspec
import pytest

from housify_ai import contract
from housify_ai.contract import (
    EVENT_FIELD,
    CancelledEvent,
    FailedEvent,
    JobEvent,
    PreviewEvent,
    ProgressEvent,
    QueuedEvent,
    StartedEvent,
    SucceededEvent,
)
from housify_api.media.schemas import SucceededEventOut, job_events_schema

#: One event of each type as the worker and the API write them, and the fields each one's JSON has.
EXAMPLES: list[tuple[JobEvent, set[str]]] = [
    (QueuedEvent(job_id="j", at=1.0, total=20), {"total"}),
    (StartedEvent(job_id="j", at=2.0, total=20, seed=7, attempt=1), {"total", "seed", "attempt"}),
    (ProgressEvent(job_id="j", at=3.0, step=4, total=20, attempt=1), {"step", "total", "attempt"}),
    (PreviewEvent(job_id="j", at=3.0, step=4, total=20, preview="UklGRg==", attempt=1), {"step", "total", "attempt", "preview"}),
    (SucceededEvent(job_id="j", at=4.0, seed=7, image_key="images/a.png", attempt=1), {"seed", "attempt", "image_key"}),
    (FailedEvent(job_id="j", at=4.0, message="deadline: too long", attempt=2), {"seed", "attempt", "message"}),
    (CancelledEvent(job_id="j", at=4.0, message="cancelled", seed=7, attempt=1), {"seed", "attempt", "message"}),
]  # fmt: skip


class FlatJobEventV2(msgspec.Struct, kw_only=True):
    """The one flat Struct that protocol 2's builds before the union read and wrote (a copy of it)."""

    v: int = 2
    job_id: str
    type: Literal["queued", "started", "progress", "preview", "succeeded", "failed", "cancelled"]
    step: int = 0
    total: int = 0
    preview: str | None = None
    message: str = ""
    at: float = 0.0
    seed: int | None = None
    image_key: str | None = None
    attempt: int = 0


@pytest.mark.parametrize(("event", "own"), EXAMPLES, ids=[event.type for event, _ in EXAMPLES])
def test_each_event_type_round_trips_with_only_its_fields(event: JobEvent, own: set[str]) -> None:
    wire = contract.encode(event)
    body = json.loads(wire)
    assert set(body) == {"v", "type", "job_id", "at"} | own
    assert body["type"] == event.type and body["v"] == contract.PROTOCOL_VERSION == 2
    back = contract.decode_event(wire)
    assert type(back) is type(event) and back == event
    assert back.terminal == (event.type in contract.TERMINAL_EVENTS)


def test_every_type_of_the_contract_has_its_struct() -> None:
    assert list(contract.EVENTS) == ["queued", "started", "progress", "preview", "succeeded", "failed", "cancelled"]
    assert set(contract.EVENTS) == set(contract.EventType.__args__) == {e.type for e, _ in EXAMPLES}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("event", "own"), EXAMPLES, ids=[event.type for event, _ in EXAMPLES])
def test_a_rolling_deploy_reads_both_shapes(event: JobEvent, own: set[str]) -> None:
    """No protocol bump: the flat Struct's JSON (every field present) decodes into the member, and the
    member's JSON decodes with the flat Struct to the same values (its defaults fill the rest)."""
    old = FlatJobEventV2(**msgspec.structs.asdict(event), type=event.type)
    assert contract.decode_event(msgspec.json.encode(old)) == event
    assert msgspec.json.decode(contract.encode(event), type=FlatJobEventV2) == old


def test_the_terminal_event_of_each_status() -> None:
    assert contract.end_event("j", "succeeded", image_key="k", seed=3, message="") == SucceededEvent(
        job_id="j", image_key="k", seed=3
    )
    assert contract.end_event("j", "failed", message="boom", attempt=2) == FailedEvent(
        job_id="j", message="boom", attempt=2
    )
    assert type(contract.end_event("j", "cancelled")) is CancelledEvent


def test_an_unknown_type_is_refused_and_readers_skip_it_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    newer = b'{"v":2,"job_id":"j","type":"paused","at":5.0}'
    with pytest.raises(msgspec.ValidationError, match=r"Invalid value 'paused' - at `\$.type`"):
        contract.decode_event(newer)
    with caplog.at_level(logging.WARNING, logger="housify_ai.contract"):
        assert contract.known_event("1-0", {EVENT_FIELD.encode(): newer}) is None
    assert "skipped entry 1-0" in caplog.text and "paused" in caplog.text
    assert contract.known_event("2-0", {EVENT_FIELD: contract.encode(QueuedEvent(job_id="j"))}) == QueuedEvent(
        job_id="j"
    )


def test_the_schema_is_one_of_the_types_with_a_discriminator() -> None:
    schema = job_events_schema()
    assert "anyOf" not in schema and "$ref" not in schema
    members = [schema["$defs"][ref["$ref"].rsplit("/", 1)[1]] for ref in schema["oneOf"]]
    assert schema["discriminator"] == {
        "propertyName": "type",
        "mapping": {tag: f"#/$defs/{member['title']}" for member in members for tag in member["properties"]["type"]["enum"]},
    }  # fmt: skip
    by_type = {member["properties"]["type"]["enum"][0]: member for member in members}
    assert list(by_type) == list(contract.EVENTS)
    assert all("type" in member["required"] and "job_id" in member["required"] for member in members)
    assert set(by_type["progress"]["properties"]) == {"v", "type", "job_id", "at", "step", "total", "attempt"}
    assert "image_id" in by_type["succeeded"]["properties"] and "message" not in by_type["succeeded"]["properties"]
    assert "message" in by_type["failed"]["properties"] and "step" not in by_type["failed"]["properties"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_websockets_succeeded_carries_the_picture() -> None:
    image = UUID(int=5)
    wire = msgspec.json.encode(SucceededEventOut(job_id="j", image_key="k", image_id=image))
    assert json.loads(wire) == {"type": "succeeded", "v": 2, "job_id": "j", "at": 0.0, "seed": None, "attempt": 0,
                                     "image_key": "k", "image_id": str(image)}  # fmt: skip
    assert contract.decode_event(wire) == SucceededEvent(job_id="j", image_key="k")  # the contract ignores image_id


def test_the_committed_job_events_schema_is_the_apis() -> None:
    """web/job-events.schema.json (from which the web app's JobEvent types are generated) matches the code;
    refresh it with ``cd web && npm run events``."""
    committed = json.loads((Path(__file__).parents[2] / "web" / "job-events.schema.json").read_text())
    assert committed == json.loads(json.dumps(job_events_schema()))
