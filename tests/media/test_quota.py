"""The hourly job limit as people meet it: a batch that does not fit is refused whole, saying how
many are left and when the next frees; ``GET /users/me/quota`` gives the same figures on load."""

from __future__ import annotations

import secrets

import httpx

from apikit import Accounts
from housify_api.media import ratelimit

SMALL = {"prompt": "a loft", "width": 64, "height": 64, "steps": 2}


async def test_a_batch_that_does_not_fit_is_refused_whole_with_what_is_left(
    http: httpx.AsyncClient, accounts: Accounts
) -> None:
    user = await accounts.user()  # Free-Tier: 6 jobs per hour
    fresh = (await http.get("/users/me/quota", headers=user.headers)).json()
    assert (fresh["level"], fresh["limit"], fresh["used"], fresh["remaining"]) == ("Free-Tier", 6, 0, 6)
    assert fresh["next_free_in"] is None and fresh["next_free_at"] is None and fresh["window_seconds"] == 3600
    assert fresh["storage_limit_bytes"] > 0

    four = await http.post("/jobs", json={**SMALL, "count": 4}, headers=user.headers)
    assert four.status_code == 202 and four.headers["ratelimit-remaining"] == "2"
    after = (await http.get("/users/me/quota", headers=user.headers)).json()
    assert (after["used"], after["remaining"]) == (4, 2)
    assert 3590 <= after["next_free_in"] <= 3600 and after["next_free_at"]

    over = await http.post("/jobs", json={**SMALL, "count": 4}, headers=user.headers)
    assert over.status_code == 429
    detail = over.json()["detail"]
    assert detail.startswith("your level (Free-Tier) allows 6 jobs per hour: 2 left, this request needs 4; ")
    assert "the next frees in 59 min" in detail or "the next frees in 1 h" in detail, detail
    assert over.headers["ratelimit-remaining"] == "2"
    assert 3590 <= int(over.headers["retry-after"]) <= 3600
    assert (await http.get("/users/me/quota", headers=user.headers)).json()["remaining"] == 2  # nothing counted

    two = await http.post("/jobs", json={**SMALL, "count": 2}, headers=user.headers)
    assert two.status_code == 202 and two.headers["ratelimit-remaining"] == "0"
    assert (await http.get("/users/me/quota")).status_code == 401


async def test_retry_after_is_when_the_whole_batch_fits(redis_client, redis_prefix: str) -> None:  # noqa: ANN001
    key = f"{redis_prefix}test:batch:{secrets.token_hex(4)}"
    t0 = 1_000_000.0
    for i in range(4):  # four jobs, ten minutes apart
        assert (await ratelimit.take(redis_client, key, 6, members=[f"a{i}"], now=t0 + 600 * i)).allowed
    now = t0 + 1800
    refused = await ratelimit.take(redis_client, key, 6, members=["b1", "b2", "b3", "b4"], now=now)
    assert (refused.allowed, refused.remaining, refused.needed) == (False, 2, 4)
    assert refused.reset_after == 1800  # a0 leaves at t0 + 3600
    assert refused.retry_after == 2400  # a1 must leave too: t0 + 600 + 3600
    assert refused.refusal("Free-Tier", now=now).endswith(
        "2 left, this request needs 4; the next frees in 30 min 0 s (14:46 UTC), all 4 in 40 min 0 s (14:56 UTC)"
    )
    usage = await ratelimit.peek(redis_client, key, 6, now=now)
    assert (usage.used, usage.remaining, usage.next_free_in) == (4, 2, 1800)
    assert await ratelimit.release(redis_client, key, "a0")  # a job a time bound ended
    assert (await ratelimit.peek(redis_client, key, 6, now=now)).next_free_in == 2400
    too_many = await ratelimit.take(redis_client, key, 3, members=[f"c{i}" for i in range(4)], now=now)
    assert not too_many.allowed and too_many.retry_after is None
    assert too_many.refusal("Free-Tier", now=now).endswith("ask for at most 3 at once")
