"""The data export's memory and speed: ``GET /users/me/export``'s ZIP writer over a directory store.

    .venv/bin/python bench/billing_export.py [--pictures 8] [--mb 256]

Writes ``--pictures`` files of ``--mb`` MiB each into a temporary directory store, then streams
the export (``housify_api.billing.export.export_stream``, with the account's records replaced
by a small fixed document: the database part is not what grows with an account's pictures)
into a byte counter, and prints the bytes produced, MiB/s and the process's peak RSS before and
after. Target (issue 22): memory stays at about one storage chunk whatever the account's size.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(pictures: int, mib: int) -> None:
    from housify_api.billing import export
    from housify_common.storage.directory import DirectoryStore

    with tempfile.TemporaryDirectory() as folder:
        store = DirectoryStore(folder)
        block = bytes(range(256)) * 4096  # 1 MiB, not all zeros
        rows: list[dict[str, Any]] = []
        for n in range(pictures):
            key = f"bench/{n}.png"
            path = Path(folder) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                for _ in range(mib):
                    handle.write(block)
            rows.append({"id": uuid.uuid4(), "storage_key": key, "created_at": None})

        async def document(user_id: uuid.UUID) -> dict[str, Any]:
            return {"format": "housify-export/1", "account": {"id": user_id}, "pictures": rows}

        export.account_document = document  # type: ignore[assignment]
        before = peak_rss_mib()
        produced = 0
        largest = 0
        started = time.perf_counter()
        async for piece in export.export_stream(uuid.uuid4(), store):
            produced += len(piece)
            largest = max(largest, len(piece))
        seconds = time.perf_counter() - started
        print(f"pictures: {pictures} x {mib} MiB = {pictures * mib} MiB on disk")
        print(f"ZIP produced: {produced / 2**20:.1f} MiB in {seconds:.2f} s ({produced / 2**20 / seconds:.0f} MiB/s)")
        print(f"largest piece sent: {largest / 1024:.0f} KiB")
        print(f"peak RSS: {before:.0f} MiB before, {peak_rss_mib():.0f} MiB after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pictures", type=int, default=8)
    parser.add_argument("--mb", type=int, default=256)
    args = parser.parse_args()
    asyncio.run(run(args.pictures, args.mb))


if __name__ == "__main__":
    main()
