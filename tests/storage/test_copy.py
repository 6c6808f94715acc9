"""``housify-api storage copy``: directory -> S3 -> directory, idempotent, resumable, failures listed.

The command runs as a subprocess, as an operator runs it; the S3 side is the
session's SeaweedFS.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from housify_common.storage import DirectoryStore, ImageStore, open_store

from .conftest import BUCKET, s3_settings
from .seaweedfs import SeaweedFS


def copy(
    source: str, target: str, server: SeaweedFS, *extra: str, endpoint_url: str = ""
) -> subprocess.CompletedProcess[str]:
    """The command, with the S3 settings of ``server`` (or another ``endpoint_url``) in its environment."""
    env = {
        **os.environ,
        "HOUSIFY_S3_ENDPOINT_URL": endpoint_url or server.endpoint_url,
        "HOUSIFY_S3_ACCESS_KEY_ID": server.access_key_id,
        "HOUSIFY_S3_SECRET_ACCESS_KEY": server.secret_access_key,
    }
    return subprocess.run(
        [sys.executable, "-m", "housify_api.cli", "storage", "copy", "--from", source, "--to", target, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def contents(store: ImageStore) -> dict[str, bytes]:
    return {info.key: await store.get(info.key) async for info in store.list()}


def pictures(root: Path, count: int) -> dict[str, bytes]:
    """``count`` objects of assorted sizes (one over a multipart part) in two folders."""
    made: dict[str, bytes] = {}
    for i in range(count):
        key = f"images/{i:04d}-{secrets.token_hex(4)}.png" if i % 2 else f"thumbs/{i:04d}.webp"
        made[key] = secrets.token_bytes(9 * 1024 * 1024 if i == 0 else 100 + i * 37)
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(made[key])
    return made


async def test_copy_directory_to_s3_and_back(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    made = pictures(tmp_path / "src", 12)
    (tmp_path / "src" / "images" / ".tmp-unfinished").write_bytes(b"a write that never finished")  # not an object
    s3_url = f"s3://{BUCKET}/copy{secrets.token_hex(3)}"
    bucket = open_store(s3_settings(seaweedfs, s3_url.rsplit("/", 1)[1]))

    first = copy((tmp_path / "src").as_uri(), s3_url, seaweedfs)
    assert first.returncode == 0, first.stderr
    assert "12 objects, 12 copied" in first.stdout and "0 failed" in first.stdout
    assert await contents(bucket) == made

    again = copy((tmp_path / "src").as_uri(), s3_url, seaweedfs)
    assert again.returncode == 0 and "0 copied (0 bytes), 12 already there" in again.stdout, again.stdout

    # an interrupted earlier run: some objects missing, one cut short
    keys = sorted(made)
    for key in keys[:4]:
        await bucket.delete(key)
    await bucket.put(keys[5], made[keys[5]][:10])
    resumed = copy((tmp_path / "src").as_uri(), s3_url, seaweedfs, "--concurrency", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "5 copied" in resumed.stdout and "7 already there" in resumed.stdout, resumed.stdout
    assert await contents(bucket) == made

    back = copy(s3_url, (tmp_path / "back").as_uri(), seaweedfs)
    assert back.returncode == 0, back.stderr
    assert await contents(DirectoryStore(tmp_path / "back")) == made


async def test_copy_lists_what_failed_and_exits_non_zero(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    from testkit import free_port

    made = pictures(tmp_path / "src", 3)
    (tmp_path / "src" / "images" / "Holiday Photo.JPG").write_bytes(b"not a storage key")
    s3_url = f"s3://{BUCKET}/fail{secrets.token_hex(3)}"
    result = copy((tmp_path / "src").as_uri(), s3_url, seaweedfs)
    assert result.returncode == 1
    assert "4 objects, 3 copied" in result.stdout and "1 failed" in result.stdout
    assert "FAILED images/Holiday Photo.JPG: invalid storage key" in result.stderr
    assert set(await contents(open_store(s3_settings(seaweedfs, s3_url.rsplit("/", 1)[1])))) == set(made)

    # a target that is down: every object is listed as failed
    down = copy((tmp_path / "src").as_uri(), s3_url + "x", seaweedfs, endpoint_url=f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1
    assert down.stderr.count("FAILED ") == 4 and "StorageUnavailable" not in down.stderr

    # a source that cannot be listed, and bad URLs
    missing = copy((tmp_path / "nowhere").as_uri(), s3_url, seaweedfs)
    assert missing.returncode == 2 and "no such directory" in missing.stderr
    assert not (tmp_path / "nowhere").exists()
    bad = copy("ftp://x/y", s3_url, seaweedfs)
    assert bad.returncode == 2 and "--from/--to" in bad.stderr
    same = copy(s3_url, s3_url, seaweedfs)
    assert same.returncode == 2 and "same store" in same.stderr


async def test_source_bucket_down_exits_2(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    from testkit import free_port

    result = copy(
        f"s3://{BUCKET}/any", (tmp_path / "to").as_uri(), seaweedfs, endpoint_url=f"http://127.0.0.1:{free_port()}"
    )
    assert result.returncode == 2 and "cannot list the source" in result.stderr
