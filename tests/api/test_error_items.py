"""Each item of a 400/422 ``extra`` names the field (``key``), says the rule to a person (``message``) and
to a program (``rule``); internal error text stays in the log."""

from __future__ import annotations

import uuid

import httpx

from housify_api.error_items import describe
from housify_api.media.schemas import JOB_BODIES

PASSWORD = "a long enough passphrase 42"


def _items(response: httpx.Response) -> dict[str, dict[str, str]]:
    return {item["key"]: item for item in response.json()["extra"]}


async def test_a_bad_address_reads_as_a_sentence_with_its_rule(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/register", json={"email": "not-an-address", "password": PASSWORD})
    assert response.status_code == 400
    item = _items(response)["email"]
    assert item["message"] == "not a valid e-mail address" and item["rule"] == "pattern"
    assert item["source"] == "body"  # Litestar's own fields stay


async def test_missing_and_unknown_fields_name_themselves(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/auth/password-reset", json={"email": "a@example.com", "colour": "red"})
    assert unknown.status_code == 400
    assert {"key": "colour", "rule": "unknown_field"}.items() <= _items(unknown)["colour"].items()
    missing = await client.post("/auth/register", json={"password": PASSWORD})
    assert missing.status_code == 400
    assert _items(missing)["email"] == {**_items(missing)["email"], "message": "email is required", "rule": "required"}


async def test_a_service_rule_keeps_its_words_and_gets_a_rule(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/register", json={"email": f"{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD, "phone": "12"}
    )
    assert response.status_code == 400
    item = _items(response)["phone"]
    assert item["rule"] == "invalid" and item["message"].startswith("must be an E.164 number")


def test_job_constraints_are_said_in_words() -> None:
    bodies = tuple(JOB_BODIES.values())
    assert describe("width", "Expected `int` that is a multiple of 8", bodies) == {
        "key": "width",
        "message": "width must be a multiple of 8 between 64 and 1024",
        "rule": "multiple_of",
    }
    assert describe("steps", "Expected `int` >= 1", bodies)["message"] == "steps must be between 1 and 100"
    assert describe("prompt", "Expected `str` of length <= 2000", bodies) == {
        "key": "prompt",
        "message": "prompt must be at most 2000 characters",
        "rule": "max_length",
    }
    assert describe("width", "Expected `int`, got `str`", bodies)["message"] == "width must be an integer"
    assert describe("scale", "Invalid enum value 3", bodies) == {
        "key": "scale",
        "message": "scale must be one of: 2, 4",
        "rule": "enum",
    }

    assert describe("when", "Invalid UUID", ())["rule"] == "format"
