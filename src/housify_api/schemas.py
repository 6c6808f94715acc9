"""Shared building blocks of request/response bodies (msgspec Structs at the edges).

Request bodies derive from :class:`Input`: an unknown field is a 400 naming it.
Strings are bounded so no body can make the service do unbounded work.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

#: Characters no mailbox may hold unquoted (RFC 5322 specials, whitespace, control characters incl. NUL):
#: aiosmtplib refuses to put them on an SMTP command line, so such an address could never get mail.
_NOT_IN_MAILBOX = r"[^@\s<>()\[\]\\,;:\"\x00-\x1f\x7f]"
#: A practical address check (one ``@``, a dot in the domain, no specials), RFC 5321 length cap.
Email = Annotated[
    str,
    msgspec.Meta(
        max_length=320,
        pattern=rf"^{_NOT_IN_MAILBOX}+@{_NOT_IN_MAILBOX}+\.{_NOT_IN_MAILBOX}+$",
        description="e-mail address",
    ),
]
#: Text stored in PostgreSQL, which cannot hold U+0000 in ``text`` columns.
NO_NUL = r"^[^\x00]*$"
#: Passwords are checked by the password rules; this bound only stops oversized input.
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
ShortText = Annotated[
    str, msgspec.Meta(max_length=200, pattern=NO_NUL, description="at most 200 characters, no U+0000")
]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies: unknown fields are refused."""


class Output(msgspec.Struct, kw_only=True):
    """Base of response bodies."""


class Message(Output):
    message: str
