"""Shared set-up of the media benchmarks: a throw-away PostgreSQL database and Redis prefix.

Import this module first: it creates ``housify_bench_<hex>`` on the local
server (``HOUSIFY_BENCH_PG_ADMIN_URL``, default postgres@127.0.0.1:5432),
points ``PICCOLO_CONF``/``HOUSIFY_DATABASE_URL``/``HOUSIFY_REDIS_*`` at it
*before* any Housify table is imported, and :func:`cleanup` drops both again.
:func:`api_process` runs ``housify-api serve`` (one uvicorn worker) as a
child process, so the load generator does not share its event loop.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "tests"))
from testkit import ScratchStores, free_port  # noqa: E402 - after the path set-up

ADMIN_URL = os.environ.get("HOUSIFY_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HOUSIFY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
STORES = ScratchStores("bench", ADMIN_URL, REDIS_URL).create()
DB_NAME = STORES.db_name
DB_URL = STORES.database_url
PREFIX = STORES.redis_prefix
os.environ.update(
    PICCOLO_CONF="housify.piccolo_conf",
    HOUSIFY_DATABASE_URL=DB_URL,
    HOUSIFY_REDIS_URL=REDIS_URL,
    HOUSIFY_REDIS_PREFIX=PREFIX,
    HF_HUB_OFFLINE="1",
)


def cleanup() -> None:
    """Drop the database and delete the Redis keys of this run."""
    STORES.drop()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@contextlib.contextmanager
def api_process(**env: str) -> Iterator[str]:
    """``housify-api serve`` on a free loopback port with this run's database and Redis; yields its base URL."""
    import httpx

    port = free_port()
    data_dir = Path(f"/tmp/{DB_NAME}")
    log = data_dir / "api.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "housify_api.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env={**os.environ, "PICCOLO_CONF": "housify.piccolo_conf", "HOUSIFY_DATA_DIR": str(data_dir), **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"housify-api did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
