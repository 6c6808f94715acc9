"""The rolling-hour job counter (real Redis) and the storage books (real PostgreSQL), below the HTTP layer."""

from __future__ import annotations

import secrets

import pytest

from housify_api.media import quota, ratelimit


async def test_rolling_window_admits_again_as_old_requests_age_out(redis_client, redis_prefix: str) -> None:  # noqa: ANN001
    key = f"{redis_prefix}test:window:{secrets.token_hex(4)}"
    t0 = 1_000_000.0
    decisions = [await ratelimit.take(redis_client, key, 3, window=3600, now=t0 + i * 60) for i in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.reset_after == 3600 - 180  # the first request (t0) leaves the window at t0 + 3600
    assert refused.headers()["Retry-After"] == str(3600 - 180)
    assert "Retry-After" not in decisions[0].headers()
    # the refused request was not counted: one second after t0 ages out, exactly one slot is free
    later = await ratelimit.take(redis_client, key, 3, window=3600, now=t0 + 3601)
    assert later.allowed and later.remaining == 0
    assert not (await ratelimit.take(redis_client, key, 3, window=3600, now=t0 + 3602)).allowed
    assert await redis_client.ttl(key) > 0  # the key expires by itself


async def test_give_back_uncounts(redis_client, redis_prefix: str) -> None:  # noqa: ANN001
    key = f"{redis_prefix}test:window:{secrets.token_hex(4)}"
    assert (await ratelimit.take(redis_client, key, 1, now=10.0)).allowed
    await ratelimit.give_back(redis_client, key)
    assert (await ratelimit.take(redis_client, key, 1, now=11.0)).allowed


async def test_storage_books(migrated_db: str) -> None:
    from housify_api.tables import User

    user = User(email=f"books-{secrets.token_hex(4)}@example.com", password_hash="x")
    await user.save()
    assert await quota.used_bytes(user.id) == 0
    assert await quota.reserve(user.id, 600, 1000) == 600
    with pytest.raises(quota.StorageQuotaExceeded) as caught:
        await quota.reserve(user.id, 401, 1000)
    assert caught.value.status_code == 413 and "600 bytes used, this needs 401 bytes more" in caught.value.detail
    assert await quota.reserve(user.id, 400, 1000) == 1000
    with pytest.raises(quota.StorageQuotaExceeded):
        await quota.ensure_room(user.id, 1000)
    await quota.release(user.id, 300)
    assert await quota.used_bytes(user.id) == 700
    await quota.release(user.id, 5000)  # more than charged: clamps at zero
    assert await quota.used_bytes(user.id) == 0
    await quota.charge(user.id, 2000)  # a finished generation may pass the limit
    assert await quota.used_bytes(user.id) == 2000
