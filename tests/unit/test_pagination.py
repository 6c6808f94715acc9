"""Cursor tokens round-trip typed values and refuse forged ones."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from housify_api.pagination import CursorError, clamp_limit, decode_cursor, encode_cursor


def test_cursor_round_trip() -> None:
    when = dt.datetime(2026, 11, 22, 7, 30, 1, 123456, tzinfo=dt.UTC)
    ident = uuid.uuid4()
    token = encode_cursor([when, 4.25, ident])
    assert "=" not in token
    assert decode_cursor(token, (dt.datetime, float, uuid.UUID)) == (when, 4.25, ident)


@pytest.mark.parametrize(
    "token",
    ["", "!!!", "bm90IGpzb24", "\U000f492a\u791d\xf2", "é", encode_cursor([1, 2]), encode_cursor(["x", "y", "z"])],
)
def test_forged_cursors_are_refused(token: str) -> None:
    with pytest.raises(CursorError, match="cursor"):
        decode_cursor(token, (dt.datetime, float, uuid.UUID))


def test_clamp_limit() -> None:
    assert [clamp_limit(n) for n in (-1, 0, 1, 50, 1000)] == [1, 1, 1, 50, 100]
