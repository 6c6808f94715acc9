"""Sign-up with the profile fields other clients send (first/last name, gender, phone, birth date, country)."""

from __future__ import annotations

import datetime as dt

import pytest

from apikit import PASSWORD, bearer, login, unique_email


async def test_seed_style_registration_body_is_accepted_stored_and_returned(client):
    """The body of a client written for a first_name/last_name/gender/phone/birth_date sign-up."""
    body = {
        "email": unique_email("seed"),
        "password": PASSWORD,
        "first_name": "Test",
        "last_name": "User",
        "gender": 1,
        "phone": "+1234567890",
        "birth_date": str(dt.date(2000, 1, 1)),
    }
    created = await client.post("/auth/register", json=body)
    assert created.status_code == 201, created.text
    out = created.json()
    for field in ("first_name", "last_name", "gender", "phone", "birth_date"):
        assert out[field] == body[field], field
    assert out["full_name"] == "Test User" and out["country"] is None
    me = (await client.get("/users/me", headers=bearer(await login(client, body["email"])))).json()
    assert {k: me[k] for k in ("first_name", "last_name", "gender", "phone", "birth_date")} == {
        k: body[k] for k in ("first_name", "last_name", "gender", "phone", "birth_date")
    }


async def test_country_style_registration_and_full_name_still_valid(client):
    email = unique_email("ml")
    created = await client.post(
        "/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "country": "gb",
            "full_name": "Augusta Ada King",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["country"] == "GB" and created.json()["full_name"] == "Augusta Ada King"
    plain = await client.post(
        "/auth/register", json={"email": unique_email(), "password": PASSWORD, "full_name": "Grace"}
    )
    assert plain.status_code == 201 and plain.json()["first_name"] == "" and plain.json()["phone"] is None


@pytest.mark.parametrize(
    ("extra", "field", "rule"),
    [
        ({"phone": "12345"}, "phone", "E.164"),
        ({"phone": "+0123456789"}, "phone", "E.164"),
        ({"phone": "+1234567890123456"}, "phone", "E.164"),
        ({"birth_date": (dt.date.today() + dt.timedelta(days=2)).isoformat()}, "birth_date", "future"),
        ({"birth_date": "2000-13-01"}, "birth_date", ""),
        ({"country": "XX"}, "country", "ISO 3166-1 alpha-2"),
        ({"country": "DEU"}, "country", ""),
        ({"gender": 3}, "gender", ""),
        ({"first_name": "x" * 128}, "first_name", ""),
    ],
)
async def test_a_broken_profile_rule_is_a_400_naming_the_field(client, extra, field, rule):
    response = await client.post("/auth/register", json={"email": unique_email(), "password": PASSWORD, **extra})
    assert response.status_code == 400, response.text
    assert field in response.text and rule in response.text


async def test_profile_fields_are_editable_and_clearable(client, user):
    auth = bearer(user["tokens"])
    changed = await client.patch(
        "/users/me",
        json={
            "first_name": " Grace ",
            "last_name": "Hopper",
            "phone": "+49 (151) 123-456-78",
            "country": "de",
            "birth_date": "1906-12-09",
            "gender": 2,
        },
        headers=auth,
    )
    assert changed.status_code == 200, changed.text
    out = changed.json()
    assert (out["first_name"], out["phone"], out["country"], out["birth_date"], out["gender"]) == (
        "Grace",
        "+4915112345678",
        "DE",
        "1906-12-09",
        2,
    )
    cleared = await client.patch("/users/me", json={"phone": None, "country": None}, headers=auth)
    assert cleared.status_code == 200 and cleared.json()["phone"] is None and cleared.json()["country"] is None
    assert cleared.json()["last_name"] == "Hopper"
    future = await client.patch("/users/me", json={"birth_date": "2999-01-01"}, headers=auth)
    assert future.status_code == 400 and "birth_date" in future.text
