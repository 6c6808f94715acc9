"""Pages of lists: the one :class:`Page` type, keyset ("cursor") pagination and its errors.

Keyset pagination serves newest-first and best-first lists (images, jobs, gallery).

A page is ordered by a tuple of columns, all descending, ending with the
primary key so the order is total. The cursor is the last row's tuple, JSON
encoded and base64url'd: opaque to clients, stable under inserts (no skipped
or repeated rows, unlike ``OFFSET``), and one index range scan per page.
A cursor that this API did not issue raises :class:`CursorError`, which the
app's exception handler answers with 400 (``housify_api.errors``).

Offset pages (admin user lists, usage history) use the same :class:`Page`
with ``total``, ``limit`` and ``offset`` filled in instead of ``next_cursor``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import Parameter
from piccolo.columns import Column
from piccolo.columns.combination import And, Or, Where

T = TypeVar("T")

#: Default and largest page sizes accepted in ``?limit=``.
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

#: ``?cursor=``: a ``next_cursor`` from the previous page. Cursors are unpadded base64url
#: (RFC 4648 §5), so anything else is refused with 400 before it reaches the decoder.
Cursor = Annotated[
    str | None,
    Parameter(description="next_cursor of the previous page (base64url)", pattern=r"^[A-Za-z0-9_-]+$", max_length=1024),
]


class CursorError(ValueError):
    """A ``cursor`` query parameter that was not issued by this API (400)."""


class Page(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a list.

    Attributes:
        items: the page's entries.
        next_cursor: keyset lists: pass it as ``?cursor=`` for the next page; ``null`` on the last one.
        total: offset lists: how many entries match (``null`` for keyset lists).
        limit / offset: offset lists: the page size and entries skipped (``null`` for keyset lists).
    """

    items: list[T]
    next_cursor: str | None = None
    total: int | None = None
    limit: int | None = None
    offset: int | None = None


def encode_cursor(values: Sequence[Any]) -> str:
    """Opaque token for the sort-key tuple ``values`` (datetimes, UUIDs, numbers, strings)."""
    raw = msgspec.json.encode(list(values))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


#: The range of PostgreSQL's ``integer`` (PostgreSQL documentation, "Numeric Types", Table 8.2).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def decode_cursor(token: str, types: Sequence[type]) -> tuple[Any, ...]:
    """The tuple behind ``token``, converted to ``types``.

    Raises:
        CursorError: when the token is not base64url JSON of ``len(types)`` values of those types.
    """
    try:
        # ``.encode("ascii")`` first: given a str with non-ASCII letters, b64decode raises a bare ValueError.
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
        values = msgspec.json.decode(raw)
        if not isinstance(values, list) or len(values) != len(types):
            raise CursorError("cursor: not a cursor issued by this list")
        decoded: tuple[Any, ...] = tuple(
            msgspec.convert(v, t, strict=False) for v, t in zip(values, types, strict=True)
        )
    except (binascii.Error, msgspec.DecodeError, msgspec.ValidationError, UnicodeError) as exc:
        raise CursorError("cursor: not a cursor issued by this list") from exc
    # A cursor's integers are PostgreSQL ``integer`` columns (rating counts): one out of that range
    # made asyncpg raise OverflowError (a 500) when it was bound (issue 21 item 10).
    if any(isinstance(v, int) and not INT32_MIN <= v <= INT32_MAX for v in decoded):
        raise CursorError("cursor: not a cursor issued by this list")
    return decoded


def after(columns: Sequence[Column], values: Sequence[Any]) -> Where | And | Or:
    """``WHERE`` clause for rows strictly after ``values`` in ``ORDER BY columns DESC``.

    ``(a, b, c) < (x, y, z)`` spelled out as ``a < x OR (a = x AND (b < y OR (b = y AND c < z)))``
    because SQLite and piccolo have no row-value comparison.
    """
    if len(columns) != len(values) or not columns:
        raise ValueError("after(): one value per column")
    clause: Any = columns[-1] < values[-1]
    for column, value in zip(reversed(columns[:-1]), reversed(values[:-1]), strict=True):
        clause = (column < value) | ((column == value) & clause)
    return clause


def clamp_limit(limit: int) -> int:
    """``limit`` bounded to 1..:data:`MAX_LIMIT`."""
    return max(1, min(limit, MAX_LIMIT))
