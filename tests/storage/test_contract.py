"""The image store contract, run on both stores (``store`` is parametrized: directory, S3).

Put/get/delete, a missing key, the key rule (checked before any I/O, the same
way on both), large objects streamed in parts both ways, listing, a store
that is down, and the nginx redirect target.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from housify_common.storage import DirectoryStore, ImageStore, S3Store, StorageKeyError, StorageUnavailable
from housify_common.storage.base import PART_BYTES

MiB = 1024 * 1024
BAD_KEYS = [
    "../etc/passwd",
    "images/../../x",
    "/abs",
    "Images/A.png",
    "",
    "images//x.png",
    ".hidden/x",
    "images/x.png/",
    "images/ x.png",
    "images/\u00e9.png",
    "a" * 201,
]


async def test_put_get_replace_delete(store: ImageStore) -> None:
    assert await store.put("images/a.png", b"\x89PNG first") == 10
    assert await store.get("images/a.png") == b"\x89PNG first"
    assert await store.put("images/a.png", b"second") == 6  # replaces
    assert await store.get("images/a.png") == b"second"
    assert await store.stat("images/a.png") == 6
    await store.delete("images/a.png")
    assert await store.stat("images/a.png") is None
    await store.delete("images/a.png")  # absent is not an error


async def test_missing_key(store: ImageStore) -> None:
    with pytest.raises(FileNotFoundError):
        await store.get("images/none.png")
    with pytest.raises(FileNotFoundError):
        await store.get_stream("images/none.png")
    assert await store.stat("images/none.png") is None


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_key_rule_is_the_same_on_both_and_checked_before_io(
    store: ImageStore, down_store: ImageStore, key: str
) -> None:
    # down_store proves no I/O happens first: a bad key is StorageKeyError, never StorageUnavailable
    for target in (store, down_store):
        with pytest.raises(StorageKeyError):
            await target.put(key, b"x")
        with pytest.raises(StorageKeyError):
            await target.get(key)
        with pytest.raises(StorageKeyError):
            await target.get_stream(key)
        with pytest.raises(StorageKeyError):
            await target.stat(key)
        with pytest.raises(StorageKeyError):
            await target.delete(key)
        with pytest.raises(StorageKeyError):
            await target.accel_redirect(key, "/_media/")
        with pytest.raises(StorageKeyError):
            target.local_path(key)


async def _pieces(total: int, piece: int) -> AsyncIterator[bytes]:
    """``total`` pseudo-random bytes (sha256 counter stream) in ``piece``-sized chunks."""
    block, counter, sent = b"", 0, 0
    while sent < total:
        while len(block) < piece:
            block += hashlib.sha256(counter.to_bytes(8, "big")).digest() * 64
            counter += 1
        chunk, block = block[: min(piece, total - sent)], block[piece:]
        sent += len(chunk)
        yield chunk


async def test_large_object_is_streamed_in_parts_both_ways(store: ImageStore) -> None:
    size = 2 * PART_BYTES + 3 * MiB + 17  # three multipart parts, the last one short
    expected = hashlib.sha256()
    async for chunk in _pieces(size, MiB):
        expected.update(chunk)
    assert await store.put_stream("big/object.bin", _pieces(size, MiB)) == size
    assert await store.stat("big/object.bin") == size
    opened = await store.get_stream("big/object.bin", chunk_size=MiB)
    assert opened.size == size
    got, pieces, largest = hashlib.sha256(), 0, 0
    async for chunk in opened.chunks:
        got.update(chunk)
        pieces += 1
        largest = max(largest, len(chunk))
    assert got.hexdigest() == expected.hexdigest()
    assert pieces >= size // (2 * MiB), f"read in {pieces} pieces: not streamed"
    assert largest < 4 * PART_BYTES
    if isinstance(store, S3Store):
        import obstore

        # an S3 multipart object's ETag is "<md5 of the part md5s>-<parts>" (AWS S3 User Guide, "Checking object integrity")
        etag = (await obstore.head_async(store._store, "big/object.bin"))["e_tag"]
        assert etag and etag.strip('"').endswith("-3"), etag


async def test_list_gives_keys_and_sizes(store: ImageStore) -> None:
    await store.put("images/one.png", b"1")
    await store.put("thumbs/one.webp", b"22")
    await store.put("images/two.png", b"333")
    listed = {info.key: info.size async for info in store.list()}
    assert listed == {"images/one.png": 1, "thumbs/one.webp": 2, "images/two.png": 3}
    assert {info.key async for info in store.list("images/")} == {"images/one.png", "images/two.png"}


async def test_a_store_that_is_down_raises_storage_unavailable(down_store: ImageStore) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"x" * 100

    with pytest.raises(StorageUnavailable):
        await down_store.put("images/a.png", b"x")
    with pytest.raises(StorageUnavailable):
        await down_store.put_stream("images/a.png", chunks())
    with pytest.raises(StorageUnavailable):
        await down_store.get("images/a.png")
    with pytest.raises(StorageUnavailable):
        await down_store.get_stream("images/a.png")
    with pytest.raises(StorageUnavailable):
        await down_store.stat("images/a.png")
    with pytest.raises(StorageUnavailable):
        await down_store.delete("images/a.png")
    with pytest.raises(StorageUnavailable):
        [info async for info in down_store.list()]


async def test_directory_redirect_names_the_key(tmp_path) -> None:  # noqa: ANN001
    store = DirectoryStore(tmp_path)
    assert await store.accel_redirect("images/a.png", "/_media/") == "/_media/images/a.png"
    assert store.local_path("images/a.png") == tmp_path.resolve() / "images/a.png"


async def test_s3_redirect_is_a_presigned_get_of_a_private_bucket(seaweedfs) -> None:  # noqa: ANN001
    from .conftest import s3_store

    store = s3_store(seaweedfs, "redirect")
    await store.put("images/r.png", b"\x89PNG private")
    target = await store.accel_redirect("images/r.png", "/_media_s3/")
    assert target.startswith("/_media_s3/housify-test/redirect/images/r.png?X-Amz-")
    assert store.local_path("images/r.png") is None
    # what nginx does: strip the location, proxy the rest to the endpoint (Host = the endpoint's host:port)
    url = seaweedfs.endpoint_url + target.removeprefix("/_media_s3")
    async with httpx.AsyncClient() as http:
        fetched = await http.get(url)
        assert fetched.status_code == 200 and fetched.content == b"\x89PNG private"
        assert fetched.headers["content-type"] == "image/png"
        # private: no signature, or a forged one, is refused
        assert (await http.get(url.split("?")[0])).status_code == 403
        forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
        assert (await http.get(forged)).status_code == 403
        # the signature covers the key: another key with the same query is refused
        await store.put("images/other.png", b"other")
        assert (await http.get(url.replace("images/r.png", "images/other.png"))).status_code == 403


@pytest.mark.parametrize(("umask", "mode"), [(0o007, 0o660), (0o022, 0o644), (0o077, 0o600)])
async def test_directory_files_get_the_mode_the_umask_allows(tmp_path, umask: int, mode: int) -> None:  # noqa: ANN001
    async def chunks() -> AsyncIterator[bytes]:
        yield b"streamed"

    previous = os.umask(umask)
    try:
        store = DirectoryStore(tmp_path / "storage")
        await store.put("images/put.png", b"x")
        await store.put_stream("images/stream.png", chunks())
        store.put_sync("images/sync.png", b"y")
    finally:
        os.umask(previous)
    for name in ("put.png", "stream.png", "sync.png"):
        assert (store.root / "images" / name).stat().st_mode & 0o777 == mode, name
    assert not [p for p in (store.root / "images").iterdir() if p.name.startswith(".tmp-")]
