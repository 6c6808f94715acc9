"""Shared building blocks of request/response bodies (msgspec Structs at the edges).

Request bodies derive from :class:`Input`: an unknown field is a 400 naming it.
Strings are bounded so no body can make the service do unbounded work.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec

#: A practical address check (one ``@``, a dot in the domain, no spaces), RFC 5321 length cap.
Email = Annotated[str, msgspec.Meta(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="e-mail address")]
#: Passwords are checked by the password rules; this bound only stops oversized input.
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]

T = TypeVar("T")


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are refused."""


class Output(msgspec.Struct, kw_only=True):
    """Base of response bodies."""


class Page(Output, Generic[T]):
    """One page of a list: ``items``, the ``total`` matching, and the ``limit``/``offset`` used."""

    items: list[T]
    total: int
    limit: int
    offset: int


class Message(Output):
    message: str
