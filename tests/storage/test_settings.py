"""``StorageSettings`` from the environment and ``open_store``'s reading of ``HOUSIFY_STORAGE_URL``."""

from __future__ import annotations

from pathlib import Path

import pytest

from housify_common.settings import SettingsError
from housify_common.storage import DirectoryStore, S3Store, StorageSettings, load_storage_settings, open_store


def test_variables_and_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "s3-secret"
    secret.write_text("s3cr3t\n")
    settings = load_storage_settings(
        {
            "HOUSIFY_STORAGE_URL": "s3://pictures/prod",
            "HOUSIFY_S3_ENDPOINT_URL": "http://10.0.0.1:3900",
            "HOUSIFY_S3_REGION": "garage",
            "HOUSIFY_S3_ACCESS_KEY_ID": "GK123",
            "HOUSIFY_S3_SECRET_ACCESS_KEY_FILE": str(secret),
            "HOUSIFY_S3_PRESIGN_SECONDS": "30",
        }
    )
    assert settings == StorageSettings(
        storage_url="s3://pictures/prod",
        s3_endpoint_url="http://10.0.0.1:3900",
        s3_region="garage",
        s3_access_key_id="GK123",
        s3_secret_access_key="s3cr3t",
        s3_presign_seconds=30,
    )
    store = open_store(settings)
    assert isinstance(store, S3Store) and (store.bucket, store.prefix, store.url) == (
        "pictures",
        "prod",
        "s3://pictures/prod",
    )
    with pytest.raises(SettingsError, match="HOUSIFY_S3_PRESIGN_SECONDS"):
        load_storage_settings({"HOUSIFY_S3_PRESIGN_SECONDS": "0"})


def test_directory_by_url_by_dir_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    by_url = open_store(StorageSettings(storage_url=(tmp_path / "u").as_uri(), storage_dir=str(tmp_path / "d")))
    assert isinstance(by_url, DirectoryStore) and by_url.root == (tmp_path / "u").resolve()  # the URL wins
    assert open_store(StorageSettings(storage_dir=str(tmp_path / "d"))).root == (tmp_path / "d").resolve()  # type: ignore[attr-defined]
    assert open_store(StorageSettings(), default_dir=tmp_path / "x").root == (tmp_path / "x").resolve()  # type: ignore[attr-defined]
    monkeypatch.setenv("HOUSIFY_DATA_DIR", str(tmp_path / "data"))
    assert open_store(StorageSettings()).url == (tmp_path / "data" / "storage").resolve().as_uri()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://host/x",
        "file://otherhost/x",
        "file:relative",
        "s3://",
        "s3://Bad_Bucket/x",
        "s3://ok-bucket/Upper/Case",
        "s3://ok-bucket/a?b=c",
        "s3://ab/x",
    ],
)
def test_bad_urls_name_the_variable(url: str) -> None:
    with pytest.raises(SettingsError, match="HOUSIFY_STORAGE_URL"):
        open_store(StorageSettings(storage_url=url))
