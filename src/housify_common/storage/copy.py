"""Copy every object of one image store into another (``housify-api storage copy``).

Idempotent and resumable: an object already in the target with the source's
size is skipped, so a second run copies nothing and a run stopped half-way
goes on where it stopped (each object is written atomically, so a stopped
copy leaves no partial object under its key). Each copy is streamed in
pieces (a multipart upload into S3) and verified by size afterwards. Files
in the source that are not storage keys (editor backups, ``lost+found``)
are reported as failures, never copied under another name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from housify_common.storage.base import ImageStore, ObjectInfo, StorageKeyError, StorageUnavailable, check_key


@dataclass
class CopyReport:
    """What a copy did: objects ``copied`` / ``skipped`` (present with equal size), ``bytes_copied``,
    and ``failures`` as ``(key, reason)``; ``total`` objects were found in the source."""

    total: int = 0
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)


async def copy_store(
    source: ImageStore,
    target: ImageStore,
    *,
    concurrency: int = 4,
    on_listed: Callable[[int, int], None] | None = None,
    on_done: Callable[[ObjectInfo], None] | None = None,
) -> CopyReport:
    """Copy every object of ``source`` into ``target``.

    ``on_listed(objects, bytes)`` is called once the source is listed and
    ``on_done(info)`` after each object (copied, skipped or failed): a progress bar's hooks.

    Raises:
        StorageUnavailable: the source cannot be listed (nothing is copied then).
    """
    objects = [info async for info in source.list()]
    report = CopyReport(total=len(objects))
    if on_listed is not None:
        on_listed(len(objects), sum(info.size for info in objects))
    pending: asyncio.Queue[ObjectInfo] = asyncio.Queue()
    for info in objects:
        pending.put_nowait(info)

    async def work() -> None:
        while not pending.empty():
            info = pending.get_nowait()
            try:
                await _copy_one(source, target, info, report)
            except (StorageUnavailable, StorageKeyError, OSError) as exc:
                report.failures.append((info.key, str(exc)))
            if on_done is not None:
                on_done(info)

    await asyncio.gather(*(work() for _ in range(max(1, concurrency))))
    report.failures.sort()
    return report


async def _copy_one(source: ImageStore, target: ImageStore, info: ObjectInfo, report: CopyReport) -> None:
    check_key(info.key)
    if await target.stat(info.key) == info.size:
        report.skipped += 1
        return
    stream = await source.get_stream(info.key)
    if stream.size != info.size:  # changed since the listing: copy what is there now
        info = ObjectInfo(info.key, stream.size)
    written = await target.put_stream(info.key, stream.chunks)
    stored = await target.stat(info.key)
    if written != info.size or stored != info.size:
        raise StorageUnavailable(f"size mismatch: source {info.size} bytes, sent {written}, target holds {stored}")
    report.copied += 1
    report.bytes_copied += info.size
