"""Issue 21 item 6: the prompt assistant admits one call per user at a time, a level-scaled number per hour,
and a bounded number waiting (429/503 with Retry-After at once, not everyone timing out after 30 s)."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from litestar.exceptions import ServiceUnavailableException, TooManyRequestsException

from apikit import Accounts
from testkit import AsgiServer


async def test_a_free_user_gets_a_level_scaled_number_of_calls_per_hour(
    http: httpx.AsyncClient, accounts: Accounts
) -> None:
    """On 02e5a16 every call went to the AI server (here: a closed port, 503), without any limit."""
    user = await accounts.user()
    codes = [
        (await http.post("/prompts/assist", json={"idea": "a calm bedroom"}, headers=user.headers)).status_code
        for _ in range(31)
    ]
    assert codes[:30] == [503] * 30  # the AI server is down here; each call counts
    refused = await http.post("/prompts/assist", json={"idea": "a calm bedroom"}, headers=user.headers)
    assert codes[30] == refused.status_code == 429
    assert "Free-Tier allows 30 calls per hour" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) > 0


@pytest.fixture
def gate(media_server: AsgiServer, redis_prefix: str):  # noqa: ANN201
    from housify_api.media.assist import AssistGate
    from housify_common.redis import RedisKeys

    return AssistGate(
        media_server.app.state.services.redis,
        RedisKeys(f"{redis_prefix}assist-{secrets.token_hex(4)}:"),
        concurrency=1,
        queue=1,
        wait_seconds=0.3,
        calls_per_job=5,
    )


async def test_one_call_at_a_time_per_user_and_a_bounded_queue(gate, accounts: Accounts) -> None:  # noqa: ANN001
    from housify_api.plans.service import DEFAULT_LEVELS

    free = DEFAULT_LEVELS[0]
    first, second, third = await accounts.user(), await accounts.user(), await accounts.user()
    release = asyncio.Event()

    async def hold(user) -> None:  # noqa: ANN001
        async with gate.slot(user, free):
            await release.wait()

    running = asyncio.create_task(hold(first))
    await asyncio.sleep(0.05)
    with pytest.raises(TooManyRequestsException, match="one call at a time"):
        async with gate.slot(first, free):
            pass
    waiting = asyncio.create_task(hold(second))  # takes the one place in the queue
    await asyncio.sleep(0.05)
    with pytest.raises(ServiceUnavailableException, match="waiting") as busy:
        async with gate.slot(third, free):
            pass
    assert busy.value.headers == {"Retry-After": "5"}
    with pytest.raises(ServiceUnavailableException, match=r"within 0\.3 s"):
        await waiting
    release.set()
    await running
    async with gate.slot(third, free):  # free again
        pass
