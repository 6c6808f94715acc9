"""Profile rules of sign-up and PATCH /users/me (housify_api.accounts.profile)."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from litestar.exceptions import ValidationException

from housify_api.accounts.profile import (
    check_birth_date,
    check_profile,
    full_name_of,
    normalise_country,
    normalise_phone,
)
from housify_api.auth.schemas import RegisterIn


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+4915112345678", "+4915112345678"),
        ("+49 (151) 123-456-78", "+4915112345678"),
        ("0044 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_are_stored_in_e164(typed: str, stored: str) -> None:
    assert normalise_phone(typed) == stored


@pytest.mark.parametrize("typed", ["12345", "+0123456", "+1234567890123456", "+1", "+49 151 abc"])
def test_phone_numbers_outside_e164_are_refused_naming_the_field(typed: str) -> None:
    with pytest.raises(ValidationException) as caught:
        normalise_phone(typed)
    assert caught.value.detail.startswith("phone: ") and "E.164" in caught.value.detail


def test_birth_date_may_be_today_but_not_tomorrow() -> None:
    today = dt.date(2026, 11, 28)
    assert check_birth_date(today, today) == today
    with pytest.raises(ValidationException, match="birth_date: must not be in the future"):
        check_birth_date(today + dt.timedelta(days=1), today)


def test_countries_are_iso_3166_alpha_2() -> None:
    assert normalise_country("de") == "DE"
    assert normalise_country("GB") == "GB"
    for code in ("XX", "UK", "EU"):  # UK is not the ISO code of the United Kingdom (GB is)
        with pytest.raises(ValidationException, match="country: "):
            normalise_country(code)


def test_check_profile_normalises_and_keeps_clears() -> None:
    checked = check_profile(
        {"first_name": " Ada ", "phone": None, "country": "fr", "gender": 2, "full_name": msgspec.UNSET}
    )
    assert checked == {"first_name": "Ada", "phone": None, "country": "FR", "gender": 2}


def test_full_name_from_parts() -> None:
    assert full_name_of(" Ada ", "Lovelace") == "Ada Lovelace"
    assert full_name_of("", "Lovelace") == "Lovelace"


def test_the_seed_style_body_decodes() -> None:
    body = b'{"email": "t@example.com", "password": "pw", "first_name": "Test", "last_name": "User", "gender": 1, "birth_date": "2000-01-01"}'
    data = msgspec.json.decode(body, type=RegisterIn)
    assert data.birth_date == dt.date(2000, 1, 1) and data.gender == 1 and data.phone is None
    with pytest.raises(msgspec.ValidationError, match=r"\$\.gender"):
        msgspec.json.decode(body.replace(b'"gender": 1', b'"gender": 5'), type=RegisterIn)
