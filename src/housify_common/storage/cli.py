"""``housify-api storage copy --from URL --to URL``: move the pictures between stores.

URLs are ``file:///abs/path`` or ``s3://bucket[/prefix]``; S3 endpoint, region
and keys come from the usual ``HOUSIFY_S3_*`` variables (both sides share them).
Exit status 0 when every object is in the target with its size, 1 with the
failed keys listed, 2 for bad arguments or a source that cannot be listed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import msgspec

from housify_common.storage.base import ImageStore
from housify_common.storage.copy import CopyReport, copy_store


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add ``storage copy`` to ``housify-api``'s sub-commands."""
    storage = sub.add_parser("storage", help="image storage tools").add_subparsers(
        dest="storage_command", required=True
    )
    copy = storage.add_parser(
        "copy",
        help="copy every picture from one store to another (idempotent, resumable, verifies sizes)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    copy.add_argument(
        "--from", dest="source", required=True, metavar="URL", help="file:///path or s3://bucket[/prefix]"
    )
    copy.add_argument("--to", dest="target", required=True, metavar="URL", help="file:///path or s3://bucket[/prefix]")
    copy.add_argument("--concurrency", type=int, default=4, help="objects copied at once (default 4)")
    copy.add_argument("--no-progress", action="store_true", help="no progress bar")
    copy.set_defaults(func=cmd_copy)


def cmd_copy(args: argparse.Namespace) -> int:
    from pathlib import Path
    from urllib.parse import unquote, urlsplit

    from housify_common.settings import SettingsError
    from housify_common.storage.base import StorageUnavailable
    from housify_common.storage.settings import load_storage_settings, open_store

    if args.source.startswith("file:") and not Path(unquote(urlsplit(args.source).path)).is_dir():
        print(f"storage copy: --from {args.source}: no such directory", file=sys.stderr)
        return 2
    try:
        settings = load_storage_settings()
        source = open_store(msgspec.structs.replace(settings, storage_url=args.source))
        target = open_store(msgspec.structs.replace(settings, storage_url=args.target))
    except (SettingsError, OSError) as exc:
        print(f"storage copy: {exc}".replace("HOUSIFY_STORAGE_URL", "--from/--to"), file=sys.stderr)
        return 2
    if source.url == target.url:
        print("storage copy: --from and --to name the same store", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_copy_with_progress(source, target, args.concurrency, show=not args.no_progress))
    except StorageUnavailable as exc:
        print(f"storage copy: cannot list the source: {exc}", file=sys.stderr)
        return 2
    print(
        f"{source.url} -> {target.url}: {report.total} objects, {report.copied} copied "
        f"({report.bytes_copied} bytes), {report.skipped} already there, {len(report.failures)} failed"
    )
    for key, reason in report.failures:
        print(f"FAILED {key}: {reason}", file=sys.stderr)
    return 1 if report.failures else 0


async def _copy_with_progress(source: ImageStore, target: ImageStore, concurrency: int, *, show: bool) -> CopyReport:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        disable=not show,
        transient=False,
    )
    task = progress.add_task("listing", total=None)

    def listed(objects: int, size: int) -> None:
        progress.update(task, description=f"{objects} objects", total=size)

    with progress:
        return await copy_store(
            source,
            target,
            concurrency=concurrency,
            on_listed=listed,
            on_done=lambda info: progress.advance(task, info.size),
        )
