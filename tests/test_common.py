"""housify_common: settings from the environment and the engine for a URL."""

from pathlib import Path

import msgspec
import pytest
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from housify_common.db import engine_from_url
from housify_common.settings import SettingsError, load_settings


class _Settings(msgspec.Struct, kw_only=True):
    database_url: str = ""
    port: int = 8000
    debug: bool = False
    cors_origins: list[str] = []
    smtp_password: str = ""


def test_settings_read_and_convert_environment_values() -> None:
    env = {
        "HOUSIFY_PORT": "9001",
        "HOUSIFY_DEBUG": "true",
        "HOUSIFY_CORS_ORIGINS": "https://a.example, https://b.example",
    }
    settings = load_settings(_Settings, env)
    assert settings.port == 9001
    assert settings.debug is True
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_secret_read_from_file_variant(tmp_path: Path) -> None:
    secret = tmp_path / "smtp"
    secret.write_text("s3cret\n")
    settings = load_settings(_Settings, {"HOUSIFY_SMTP_PASSWORD_FILE": str(secret)})
    assert settings.smtp_password == "s3cret"


def test_invalid_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="HOUSIFY_PORT"):
        load_settings(_Settings, {"HOUSIFY_PORT": "eighty"})


def test_unreadable_secret_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="HOUSIFY_SMTP_PASSWORD_FILE"):
        load_settings(_Settings, {"HOUSIFY_SMTP_PASSWORD_FILE": str(tmp_path / "missing")})


def test_engine_for_each_scheme(tmp_path: Path) -> None:
    assert isinstance(engine_from_url("postgresql://postgres@127.0.0.1:5432/postgres"), PostgresEngine)
    engine = engine_from_url(f"sqlite:///{tmp_path}/sub/h.sqlite")
    assert isinstance(engine, SQLiteEngine)
    assert (tmp_path / "sub").is_dir()
    with pytest.raises(ValueError, match="HOUSIFY_DATABASE_URL"):
        engine_from_url("mysql://x/y")


async def test_directory_store_round_trip_and_refuses_escaping_keys(tmp_path: Path) -> None:
    from housify_common.storage import DirectoryStore, StorageKeyError

    store = DirectoryStore(tmp_path)
    assert await store.put("images/abc.png", b"\x89PNG") == 4
    assert await store.get("images/abc.png") == b"\x89PNG"
    await store.delete("images/abc.png")
    await store.delete("images/abc.png")  # absent is fine
    with pytest.raises(FileNotFoundError):
        await store.get("images/abc.png")
    for bad in ("../etc/passwd", "images/../../x", "/abs", "Images/A.png", ""):
        with pytest.raises(StorageKeyError):
            store.local_path(bad)


def test_thumbnail_fits_and_keeps_aspect() -> None:
    import io

    from PIL import Image

    from housify_common.imaging import make_thumbnail

    thumb = Image.open(io.BytesIO(make_thumbnail(Image.new("RGB", (1024, 512), "red"))))
    assert thumb.format == "WEBP"
    assert thumb.size == (256, 128)


def test_database_url_from_file_variant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from housify_common.db import database_url_from_env

    secret = tmp_path / "db-url"
    secret.write_text("postgresql://housify:pw@db/housify\n")
    monkeypatch.setenv("HOUSIFY_DATABASE_URL", "postgresql://ignored/x")
    monkeypatch.setenv("HOUSIFY_DATABASE_URL_FILE", str(secret))
    assert database_url_from_env() == "postgresql://housify:pw@db/housify"
    monkeypatch.delenv("HOUSIFY_DATABASE_URL_FILE")
    assert database_url_from_env() == "postgresql://ignored/x"
