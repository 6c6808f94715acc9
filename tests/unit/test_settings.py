"""The settings tree: flat variables into nested Structs, files for secrets, errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from housify_api.settings import ApiSettings, MediaSettings
from housify_common.settings import SettingsError, load_settings
from housify_common.shared_settings import CommonSettings
from housify_common.storage import DirectoryStore, StorageSettings


def test_nested_groups_read_the_flat_variables() -> None:
    settings = load_settings(
        ApiSettings,
        {
            "HOUSIFY_MEDIA_MAX_IMAGE_PIXELS": "1000",
            "HOUSIFY_AI_TIMEOUT_SECONDS": "2.5",
            "HOUSIFY_STORAGE_DIR": "/srv/pictures",
            "HOUSIFY_S3_REGION": "garage",
            "HOUSIFY_REDIS_PREFIX": "blue:",
            "HOUSIFY_CORS_ORIGINS": "https://a.example, https://b.example",
        },
    )
    assert settings.media == MediaSettings(max_image_pixels=1000, ai_timeout_seconds=2.5)
    assert settings.storage == StorageSettings(storage_dir="/srv/pictures", s3_region="garage")
    assert settings.redis_prefix == "blue:"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert isinstance(settings, CommonSettings)


def test_overrides_reach_nested_fields_by_variable_name() -> None:
    settings = load_settings(ApiSettings, {}, storage_dir="/x", media_featured_cache_seconds=0, smtp_port=2525)
    assert settings.storage.storage_dir == "/x"
    assert settings.media.featured_cache_seconds == 0
    assert settings.smtp_port == 2525
    with pytest.raises(SettingsError, match="HOUSIFY_NO_SUCH_THING"):
        load_settings(ApiSettings, {}, no_such_thing=1)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOUSIFY_MEDIA_MAX_IMAGE_PIXELS", "lots"),
        ("HOUSIFY_MEDIA_FEATURED_PRIOR_VOTES", "0"),
        ("HOUSIFY_S3_PRESIGN_SECONDS", "0"),
        ("HOUSIFY_ACCESS_TOKEN_TTL_SECONDS", "soon"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(ApiSettings, {variable: value})
    assert str(caught.value).startswith(f"{variable}: ")


def test_secrets_come_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("hunter2-but-longer\n")
    settings = load_settings(ApiSettings, {"HOUSIFY_SMTP_PASSWORD_FILE": str(secret)})
    assert settings.smtp_password == "hunter2-but-longer"
    with pytest.raises(SettingsError, match="HOUSIFY_SMTP_PASSWORD_FILE: cannot read"):
        load_settings(ApiSettings, {"HOUSIFY_SMTP_PASSWORD_FILE": str(tmp_path / "absent")})


def test_the_store_defaults_to_the_data_directory(tmp_path: Path) -> None:
    store = load_settings(ApiSettings, {"HOUSIFY_DATA_DIR": str(tmp_path)}).open_store()
    assert isinstance(store, DirectoryStore)
    assert store.local_path("images/a.png") == tmp_path.resolve() / "storage" / "images" / "a.png"
