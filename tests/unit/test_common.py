"""housify_common: the CLI wrapper's one-line errors and the in-process Redis stand-in's blocking reads."""

from __future__ import annotations

import asyncio
import time

import pytest

from housify_common.cli import EXIT_CONFIG, run_command
from housify_common.redis import redis_from_url
from housify_common.settings import SettingsError


def test_run_command_turns_settings_errors_into_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> int:
        raise SettingsError("HOUSIFY_REDIS_URL: not a URL")

    assert run_command("housify-x", broken) == EXIT_CONFIG
    assert capsys.readouterr().err == "housify-x: HOUSIFY_REDIS_URL: not a URL\n"
    assert run_command("housify-x", lambda: 0) == 0

    def other() -> int:
        raise LookupError("model folder missing")

    assert run_command("housify-x", other, errors=(LookupError,)) == EXIT_CONFIG

    def bug() -> int:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):  # anything else keeps its traceback
        run_command("housify-x", bug)


async def test_stand_in_stream_reads_block_and_wake_on_data() -> None:
    client = redis_from_url("")
    stream = f"unit-stream-{time.monotonic_ns()}"
    await client.xadd(stream, {"a": "1"})
    await client.xgroup_create(stream, "g", id="$")
    started = time.monotonic()
    assert await client.xreadgroup("g", "c", {stream: ">"}, block=200) == []
    assert time.monotonic() - started >= 0.19

    async def later() -> None:
        await asyncio.sleep(0.1)
        await client.xadd(stream, {"b": "2"})

    task = asyncio.create_task(later())
    reply = await client.xread({stream: "$"}, block=2000)
    await task
    assert reply and reply[0][1][0][1] == {b"b": b"2"}
    await client.aclose()
