"""The personal fields of an account and their rules, shared by sign-up and ``PATCH /users/me``.

Clients written for either kind of sign-up form send these (docs/authentication.md):
``first_name``, ``last_name``, ``gender``, ``phone``, ``birth_date``,
``country``; ``full_name`` stays valid. All are optional. The rules:

- ``phone``: E.164 (ITU-T E.164 §6: ``+``, a country code not starting with
  0, at most 15 digits in all), e.g. ``+4915112345678``; spaces, dashes,
  dots and brackets a person types are dropped first.
- ``birth_date``: an ISO 8601 date (``2000-01-01``), not in the future.
- ``country``: an ISO 3166-1 alpha-2 code (``DE``), checked against the
  standard's list as shipped by ``pycountry`` (from Debian's iso-codes); stored upper-case.
- ``gender``: an ISO/IEC 5218 code: 0 not known, 1 male, 2 female, 9 not applicable.
- names: at most 127 characters each, no U+0000.

Type and shape rules are checked while decoding the body (400 naming the
field); :func:`check_profile` checks the rest and normalises.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from litestar.exceptions import ValidationException

from housify_api.schemas import NO_NUL

#: ITU-T E.164: a "+", then 2-15 digits, the first (country code) not 0.
E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
#: What people type between digits; dropped before the E.164 check.
PHONE_SEPARATORS = re.compile(r"[\s().-]")

Name = Annotated[str, msgspec.Meta(max_length=127, pattern=NO_NUL, description="at most 127 characters, no U+0000")]
Phone = Annotated[str, msgspec.Meta(max_length=32, pattern=NO_NUL, description="E.164, e.g. +4915112345678")]
Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2 code, e.g. DE")]
#: ISO/IEC 5218 codes of the sexes: 0 not known, 1 male, 2 female, 9 not applicable.
Gender = Literal[0, 1, 2, 9]


def _invalid(field: str, rule: str) -> ValidationException:
    return ValidationException(f"{field}: {rule}", extra=[{"key": field, "message": rule}])


def normalise_phone(phone: str) -> str:
    """``phone`` in E.164 form. Raises ``ValidationException`` (400) naming ``phone`` and the rule."""
    compact = PHONE_SEPARATORS.sub("", phone)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not E164.match(compact):
        raise _invalid("phone", "must be an E.164 number: '+', country code, subscriber number, at most 15 digits")
    return compact


def check_birth_date(birth_date: dt.date, today: dt.date | None = None) -> dt.date:
    """``birth_date`` if it is not after ``today`` (UTC). Raises ``ValidationException`` (400) naming the field."""
    today = today or dt.datetime.now(dt.UTC).date()
    if birth_date > today:
        raise _invalid("birth_date", f"must not be in the future (today is {today.isoformat()})")
    return birth_date


def normalise_country(country: str) -> str:
    """``country`` as an upper-case ISO 3166-1 alpha-2 code. Raises ``ValidationException`` (400) naming it."""
    import pycountry

    code = country.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise _invalid("country", f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _strip(value: str) -> str:
    return value.strip()


def _same(value: Any) -> Any:
    return value


#: The one table of the profile's fields and the rule each follows (besides its decoding type).
RULES: dict[str, Callable[[Any], Any]] = {
    "full_name": _strip,
    "first_name": _strip,
    "last_name": _strip,
    "gender": _same,
    "phone": normalise_phone,
    "birth_date": check_birth_date,
    "country": normalise_country,
}
#: The profile columns of ``users`` (besides ``full_name``) in API order.
PROFILE_FIELDS = tuple(name for name in RULES if name != "full_name")


def check_profile(values: dict[str, Any]) -> dict[str, Any]:
    """Checked, normalised copies of the profile fields set in ``values`` (``None`` clears a field).

    Names and ``full_name`` are stripped; ``phone``, ``birth_date``, ``country`` follow the module's rules.

    Raises:
        ValidationException: 400 naming the first field that breaks its rule.
        KeyError: a field that is not a profile field (a programming error).
    """
    return {
        field: None if value is None else RULES[field](value)
        for field, value in values.items()
        if value is not msgspec.UNSET
    }


def full_name_of(first_name: str, last_name: str) -> str:
    """``full_name`` for a sign-up that gave only first and last names."""
    return " ".join(part for part in (first_name.strip(), last_name.strip()) if part)
