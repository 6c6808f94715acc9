"""Both image stores for the storage contract: a directory, and a bucket on a real S3 server.

The S3 server is SeaweedFS, started once per test session on loopback (see
:mod:`storage.seaweedfs`); every test gets its own key prefix in one bucket.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from housify_common.storage import DirectoryStore, ImageStore, S3Store, StorageSettings

from .seaweedfs import SeaweedFS

BUCKET = "housify-test"


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs")).start()
    try:
        server.create_bucket(BUCKET)
        yield server
    finally:
        server.stop()


def s3_settings(server: SeaweedFS, prefix: str, **extra: object) -> StorageSettings:
    """Settings of an S3 store on ``server``'s test bucket under ``prefix``."""
    return StorageSettings(
        storage_url=f"s3://{BUCKET}/{prefix}",
        s3_endpoint_url=server.endpoint_url,
        s3_access_key_id=server.access_key_id,
        s3_secret_access_key=server.secret_access_key,
        **extra,  # type: ignore[arg-type]
    )


def s3_store(server: SeaweedFS, prefix: str | None = None) -> S3Store:
    return S3Store(
        BUCKET,
        prefix or f"t{secrets.token_hex(6)}",
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
    )


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ImageStore:
    """Each contract test runs once on a fresh directory and once on a fresh prefix of the bucket."""
    if request.param == "directory":
        return DirectoryStore(tmp_path / "storage")
    return s3_store(request.getfixturevalue("seaweedfs"))


@pytest.fixture(params=["directory", "s3"])
def down_store(request: pytest.FixtureRequest, tmp_path: Path) -> ImageStore:
    """A store that cannot work: a directory whose mount is gone (a file in its place),
    or an S3 endpoint where nothing listens."""
    if request.param == "directory":
        store = DirectoryStore(tmp_path / "storage")
        store.root.rmdir()
        store.root.write_text("the mount went away")
        return store
    from testkit import free_port

    return S3Store(
        BUCKET,
        "down",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key_id="x",
        secret_access_key="y",
        timeout_seconds=2,
    )


@pytest.fixture(params=["directory", "s3"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which store a test runs against: each test that asks for it runs once per store."""
    return request.param


@pytest.fixture
def weed(kind: str, request: pytest.FixtureRequest) -> SeaweedFS | None:
    """The S3 server (SeaweedFS) for ``kind == "s3"``, else None (the directory store needs none)."""
    return request.getfixturevalue("seaweedfs") if kind == "s3" else None
