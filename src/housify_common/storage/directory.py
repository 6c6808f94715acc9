"""Images as files under one directory: the embedded default, and many hosts over NFS.

Writes are atomic (a temporary file in the target directory, then
``os.replace``) and run off the event loop. Files get ``0666 & ~umask``, like
any file a process creates with ``open()``: ``tempfile.mkstemp`` alone makes
them 0600 whatever the umask, which locks out the group (nginx and the AI
workers read the API's files through the ``housify`` group under
``UMask=0007``: 0660 files in a 2770 directory).
"""

from __future__ import annotations

import asyncio
import builtins
import os
import tempfile
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

from housify_common.storage.base import READ_CHUNK_BYTES, ObjectInfo, ObjectStream, StorageUnavailable, check_key

T = TypeVar("T")

#: Prefix of the temporary files of unfinished writes (never listed, never a key: keys have no leading dot).
TMP_PREFIX = ".tmp-"

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux tells it (``/proc/self/status``,
    ``Umask:`` since Linux 4.7); elsewhere set and restored under a lock."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    with _umask_lock:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of new image files: what ``open()`` would give (``0666 & ~umask``; 0660 under ``UMask=0007``)."""
    return 0o666 & ~current_umask()


class DirectoryStore:
    """``DirectoryStore(root)``: files under ``root`` (created if missing, with the umask's mode)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = self.root.as_uri()

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.root)!r})"

    def local_path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def _run(self, func: Callable[..., T], *args: object) -> T:
        """``func(*args)`` in a thread; OS errors other than a missing file become :class:`StorageUnavailable`."""
        try:
            return await asyncio.to_thread(func, *args)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StorageUnavailable(f"image storage {self.root}: {exc}") from exc

    async def put(self, key: str, data: bytes) -> int:
        return await self._run(self.put_sync, key, data)

    def put_sync(self, key: str, data: bytes) -> int:
        """Blocking :meth:`put`, for worker threads that are not on an event loop."""
        with self._writer(key) as handle:
            handle.write(data)
        return len(data)

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        path = self.local_path(key)
        writer = await self._run(_AtomicWriter, path)
        size = 0
        try:
            async for chunk in chunks:
                await self._run(writer.file.write, chunk)
                size += len(chunk)
            await self._run(writer.commit)
        finally:
            await asyncio.to_thread(writer.discard)
        return size

    def _writer(self, key: str) -> _AtomicWriter:
        return _AtomicWriter(self.local_path(key))

    async def get(self, key: str) -> bytes:
        return await self._run(self.local_path(key).read_bytes)

    async def get_stream(self, key: str, chunk_size: int = READ_CHUNK_BYTES) -> ObjectStream:
        path = self.local_path(key)
        handle = await self._run(_open_binary, path)
        size = os.fstat(handle.fileno()).st_size
        return ObjectStream(size=size, chunks=self._chunks(handle, chunk_size))

    async def _chunks(self, handle: BinaryIO, chunk_size: int) -> AsyncIterator[bytes]:
        try:
            while chunk := await self._run(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()

    async def stat(self, key: str) -> int | None:
        try:
            return (await self._run(self.local_path(key).stat)).st_size
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await self._run(self.local_path(key).unlink, True)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        for info in await self._run(self._list_sync, prefix):
            yield info

    def _list_sync(self, prefix: str) -> builtins.list[ObjectInfo]:
        found: builtins.list[ObjectInfo] = []

        def fail(exc: OSError) -> None:  # os.walk skips unreadable folders (and a missing root) unless told
            raise exc

        if not self.root.is_dir():
            raise NotADirectoryError(f"{self.root} is not a directory")
        for folder, dirs, files in os.walk(self.root, onerror=fail):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            base = Path(folder).relative_to(self.root)
            for name in sorted(files):
                if name.startswith("."):
                    continue
                key = (base / name).as_posix()
                if key.startswith(prefix):
                    try:
                        found.append(ObjectInfo(key, (Path(folder) / name).stat().st_size))
                    except FileNotFoundError:  # deleted meanwhile
                        continue
        return found

    async def accel_redirect(self, key: str, location: str) -> str:
        """``<location>/<key>``: nginx's ``location /_media/ { internal; alias <root>/; }`` sends the file."""
        return location.rstrip("/") + "/" + check_key(key)


def _open_binary(path: Path) -> BinaryIO:
    return path.open("rb")


class _AtomicWriter:
    """A temporary file beside ``path`` with the umask's mode; :meth:`commit` renames it into place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
        try:
            os.fchmod(fd, file_mode())  # mkstemp makes 0600 whatever the umask (Python docs, tempfile.mkstemp)
            self.file = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            Path(self.tmp).unlink(missing_ok=True)
            raise
        self.done = False

    def __enter__(self) -> _AtomicWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.discard()

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def commit(self) -> None:
        self.file.close()
        os.replace(self.tmp, self.path)
        self.done = True

    def discard(self) -> None:
        if not self.done:
            self.file.close()
            Path(self.tmp).unlink(missing_ok=True)
