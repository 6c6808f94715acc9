"""The typed services container, built alone (fakeredis, a temporary data directory, no server)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from housify_ai.contract import DEFAULT_LEVELS as CONTRACT_ITS
from housify_api.plans import DEFAULT_LEVELS, Level, LevelService
from housify_api.services import Services, build_services, providers
from housify_api.settings import ApiSettings


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return build_services(ApiSettings(data_dir=str(tmp_path), redis_url=""))


def test_services_are_typed_frozen_and_wired(services: Services) -> None:
    assert services.auth.mailer is services.mailer and services.auth.revocations is services.revocations
    assert services.accounts.auth is services.auth and services.plans.levels is services.levels
    assert services.authenticator.token_cls is services.token_cls
    assert services.media.queue.client is services.redis and services.quotes is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        services.redis = None  # type: ignore[misc]


def test_providers_are_derived_from_the_fields(services: Services) -> None:
    from litestar.datastructures import State

    provided = providers()
    assert set(provided) == {field.name for field in dataclasses.fields(Services)}
    state = State({"services": services})
    assert provided["auth"].dependency(state) is services.auth
    assert provided["levels"].dependency(state) is services.levels


def test_a_misconfigured_key_is_a_settings_error(tmp_path: Path) -> None:
    from housify_common.settings import SettingsError

    with pytest.raises(SettingsError, match="HOUSIFY_JWT_PRIVATE_KEY"):
        build_services(ApiSettings(data_dir=str(tmp_path), jwt_private_key="not a pem", jwt_public_key="x"))


def test_default_levels_take_its_from_the_job_contract() -> None:
    assert {level.name: level.its for level in DEFAULT_LEVELS} == CONTRACT_ITS
    free = DEFAULT_LEVELS[0]
    assert free.upload_size_limit_bytes == 100 * 2**20 and free.storage_limit_bytes == 10 * 2**30


async def test_the_cached_view_reuses_a_level_until_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    levels = LevelService(cache_seconds=60)
    reads: list[str] = []

    async def get(name: str) -> Level:
        reads.append(name)
        return DEFAULT_LEVELS[0]

    monkeypatch.setattr(levels, "get", get)
    assert await levels.cached("Free-Tier") == await levels.cached("Free-Tier") == DEFAULT_LEVELS[0]
    assert reads == ["Free-Tier"]
    levels.forget()
    await levels.cached("Free-Tier")
    assert reads == ["Free-Tier", "Free-Tier"]
    uncached = LevelService(cache_seconds=0)
    monkeypatch.setattr(uncached, "get", get)
    await uncached.cached("Free-Tier")
    await uncached.cached("Free-Tier")
    assert len(reads) == 4
