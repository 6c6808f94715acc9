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


def normalise_email(email: str) -> str:
    """The stored form of an e-mail address: surrounding whitespace dropped, lower case.

    Every comparison with ``users.email`` (sign-up, log-in, reset, change, superuser) goes
    through this one function. The whole address is lowered although RFC 5321 §2.4 lets
    the local part be case-sensitive: no mail host in practice treats it so, and one
    person should not get two accounts by typing ``Ann@`` and ``ann@``.
    """
    return email.strip().lower()


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
