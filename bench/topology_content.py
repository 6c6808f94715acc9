"""Figures of the production shape (tests/topology): picture bytes through nginx, a tiny job end to end, the faults.

Run as root (network namespaces, system users; ~6 min, ~10 with ``--faults``)::

    sudo .venv/bin/python bench/topology_content.py [--seconds 8] [--rounds 3] [--jobs 20] [--faults]
    sudo .venv/bin/python bench/topology_content.py --pages-only   # section 0 only (issue 19's figures)

Builds the topology of ``tests/topology/stack.py`` (S3 store, nginx rendered
with both internal media locations and a web root) and prints:

0. A gallery page's worth of thumbnails (24 WebP, 256 px), by ``wrk`` on
   ``wan`` cycling over the 24 URLs (Lua), on each store: through the signed
   URLs of the listing (private pictures: every fetch goes to the store,
   nginx's secure_link or the store's SigV4 checks it: a first view; public
   pictures: repeat views, from nginx's cache on S3), through the old route
   ``GET /images/{id}/content?size=thumb`` (Python decides, then
   X-Accel-Redirect), the same bytes as static files (the ceiling) and, for
   S3, the store itself (presigned GETs from ``edge`` straight to SeaweedFS).
   Then the API instances' CPU time (``/proc``, utime+stime) per page view
   and Python requests per page: old (listing + 24 content requests) vs new
   (listing; the thumbnails never reach Python).
1. ``GET /images/{id}/content`` of a private 64x64 PNG through nginx, by
   ``wrk`` on ``wan`` (HTTPS, HTTP/1.1 keep-alive, 16 connections): req/s and
   p50/p99 for the S3 store (API answers ``X-Accel-Redirect`` to a presigned
   URL, nginx fetches from SeaweedFS) and the directory store (nginx sends the
   file), each next to nginx serving the same bytes as a static file (the
   ceiling). Store and ceiling alternate in ``--rounds`` rounds so load from
   other work falls on both; the API instances are switched from S3 to the
   directory store between the two halves (same nginx, same text).
2. End-to-end latency of a tiny text2img job (64x64, 4 steps): ``POST /jobs``
   to the ``succeeded`` event on the WebSocket, through nginx from ``wan`` vs
   straight to one API instance from ``edge``, interleaved, p50/p99.
3. With ``--faults``: the fault scenarios of ``tests/topology/test_faults.py``
   on this topology, and their counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from topology import stack  # noqa: E402 - after the path set-up
from topology.clients import SMALL, User, events, photo, sign_up, upload  # noqa: E402
from topology.netns import EDGE_WAN  # noqa: E402

BASE = Path("/var/lib/housify-topology-bench")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def wrk(
    topo: stack.Topology,
    path: str,
    headers: dict[str, str],
    seconds: float,
    connections: int = 16,
    *,
    paths: list[str] | None = None,
    base: str | None = None,
) -> dict[str, Any]:
    """``wrk --latency`` from ``wan`` against nginx (or from ``edge`` against ``base``); req/s, p50/p99 (ms),
    non-2xx count. With ``paths`` each connection cycles over them (a Lua ``request`` hook)."""
    argv = [
        *(topo.net.edge if base else topo.net.wan).exec_prefix(),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "--latency",
    ]
    if base is None:
        argv += ["-H", f"Host: {stack.SERVER_NAME}"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    if paths:
        script = BASE.parent / f"wrk-{abs(hash(tuple(paths)))}.lua"
        listed = ", ".join(json.dumps(p) for p in paths)
        script.write_text(
            f"local paths = {{{listed}}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
        )
        script.chmod(0o644)
        argv += ["-s", str(script)]
    out = subprocess.run(
        [*argv, f"{base or f'https://{EDGE_WAN}'}{path}"], capture_output=True, text=True, timeout=seconds + 60
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            raise RuntimeError(f"no {label}% in wrk output:\n{out}")
        return float(match[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": float(rps[1]) if rps else 0.0,
        "p50": latency("50"),
        "p99": latency("99"),
        "non_2xx": int(bad[1]) if bad else 0,
        "socket_errors": errors[0] if errors else "",
    }


async def switch_api_store(topo: stack.Topology, store: stack.Store) -> None:
    """Restart both API instances on ``store`` (the nginx text already has both internal locations)."""
    topo.store = store
    for name in ("api-0", "api-1"):
        svc = topo.services[name]
        svc.stop()
        for key in [k for k in svc.env if k.startswith(("HOUSIFY_STORAGE_", "HOUSIFY_S3_"))]:
            del svc.env[key]
        svc.env.update(topo.storage_env())
        svc.env.update(topo.media_env())
        await svc.start()


async def content_phase(topo: stack.Topology, user: User, label: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    async with topo.client() as http:
        picture = photo(64, 64)
        uploaded = await upload(http, user, picture, title=f"bench {label}")
        assert uploaded.status_code == 201, uploaded.text
        image_id = uploaded.json()["id"]
        check = await http.get(f"/images/{image_id}/content", headers=user.headers)
        assert check.status_code == 200, check.status_code
        assert check.content == picture, len(check.content)
    assert topo.web_root is not None
    (topo.web_root / "ceiling.png").write_bytes(picture)  # same bytes, served by nginx as a static file
    rows = []
    for round_ in range(args.rounds):
        for scenario, path, headers in (
            (f"content, {label} store", f"/images/{image_id}/content", user.headers),
            (f"static file (ceiling), {label} half", "/ceiling.png", {}),
        ):
            result = wrk(topo, path, headers, args.seconds)
            rows.append({"scenario": scenario, "round": round_, **result})
            print(
                f"  {scenario:38} round {round_}: {result['rps']:8.0f} req/s  p50 {result['p50']:6.2f} ms  "
                f"p99 {result['p99']:6.2f} ms  non-2xx {result['non_2xx']}",
                flush=True,
            )
    return rows


PAGE = 24  # thumbnails of one gallery page (the web app's page size)


def api_cpu_seconds(topo: stack.Topology) -> float:
    """utime + stime of both API instances and their children (clock ticks from /proc/<pid>/stat)."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for name in ("api-0", "api-1"):
        pending = [topo.services[name].proc.pid]
        while pending:
            pid = pending.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
                pending += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except FileNotFoundError:
                continue
    return total / ticks


async def page_pictures(topo: stack.Topology, user: User, label: str) -> tuple[list[str], list[str]]:
    """PAGE private and PAGE public pictures of ``user``; their ids (private, public)."""
    ids: tuple[list[str], list[str]] = ([], [])
    async with topo.client() as http:
        for n in range(2 * PAGE):
            public = n >= PAGE
            created = await upload(http, user, photo(320, 240), title=f"page {label} {n}", public=public)
            assert created.status_code == 201, created.text
            ids[int(public)].append(created.json()["id"])
    return ids


async def signed_thumbs(topo: stack.Topology, user: User, ids: list[str]) -> list[str]:
    """The listing's signed thumbnail URLs of ``ids`` (fetched now, so they live 2-4 minutes)."""
    async with topo.client() as http:
        items = (await http.get("/images/", params={"limit": 100}, headers=user.headers)).json()["items"]
    urls = {item["id"]: item["thumb_url"] for item in items}
    return [urls[i] for i in ids]


async def page_phase(topo: stack.Topology, user: User, label: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Section 0 on the current store: thumbnails/s per way of serving them, alternating in rounds."""
    private, public = await page_pictures(topo, user, label)
    assert topo.web_root is not None
    ceiling = []
    for n, image_id in enumerate(public):  # the same bytes as static files
        data = await topo.stored_bytes(f"thumbs/{image_id}.webp")
        assert data is not None
        (topo.web_root / f"thumb-{n}.webp").write_bytes(data)
        ceiling.append(f"/thumb-{n}.webp")
    old = [f"/images/{i}/content?size=thumb" for i in private]
    rows = []
    for round_ in range(args.rounds):
        scenarios: list[tuple[str, list[str], dict[str, str], str | None]] = [
            (f"{label}: signed URLs, private (first view)", await signed_thumbs(topo, user, private), {}, None),
            (f"{label}: signed URLs, public (repeat view)", await signed_thumbs(topo, user, public), {}, None),
            (f"{label}: old route /content (Python)", old, user.headers, None),
            (f"{label}: static files (ceiling)", ceiling, {}, None),
        ]
        if topo.store == "s3":
            from housify_common.storage import open_store
            from housify_common.storage.settings import load_storage_settings

            store = open_store(load_storage_settings(topo.storage_env()))
            direct = [await store.presigned_get(f"thumbs/{i}.webp") for i in private]  # type: ignore[attr-defined]
            paths = [urlsplit(u).path + "?" + urlsplit(u).query for u in direct]
            scenarios.append((f"{label}: the store itself (SeaweedFS)", paths, {}, topo.s3_endpoint))
        for scenario, paths, headers, base in scenarios:
            result = wrk(topo, paths[0], headers, args.seconds, paths=paths, base=base)
            rows.append({"scenario": scenario, "round": round_, **result})
            print(
                f"  {scenario:45} round {round_}: {result['rps']:8.0f} thumbs/s  p50 {result['p50']:6.2f} ms  "
                f"p99 {result['p99']:6.2f} ms  non-2xx {result['non_2xx']}",
                flush=True,
            )
    await cpu_per_page(topo, user, label, private, args.pages)
    return rows


async def cpu_per_page(topo: stack.Topology, user: User, label: str, ids: list[str], pages: int) -> None:
    """API CPU time and Python requests per page view: old (listing + PAGE content requests) vs signed URLs."""

    async def view(old: bool) -> int:
        # one connection per page view, as a browser opening the page (nginx ends an HTTP/2
        # connection after 1,000 requests, which a long-lived client here would cross)
        async with topo.client() as http:
            listing = await http.get("/images/", params={"limit": PAGE}, headers=user.headers)
            items = listing.json()["items"]
            urls = [f"/images/{i['id']}/content?size=thumb" if old else i["thumb_url"] for i in items]
            answers = await asyncio.gather(*(http.get(u, headers=user.headers if old else {}) for u in urls))
        assert all(a.status_code == 200 for a in answers), [a.status_code for a in answers]
        return 1 + (len(urls) if old else 0)

    for old in (True, False):
        await view(old)  # warm
        before, requests = api_cpu_seconds(topo), 0
        for _ in range(pages):
            requests += await view(old)
        spent = api_cpu_seconds(topo) - before
        name = "old: listing + 24 x /content" if old else "new: listing, thumbs via signed URLs"
        print(
            f"  {label}: {name:38} API CPU {spent / pages * 1000:7.1f} ms/page, "
            f"{requests / pages:.0f} Python requests/page",
            flush=True,
        )


async def tiny_job_latency(topo: stack.Topology, users: list[User], jobs: int) -> dict[str, list[float]]:
    """Seconds from ``POST /jobs`` to the ``succeeded`` event, through nginx and straight to api-0, interleaved."""
    from websockets.asyncio.client import connect

    times: dict[str, list[float]] = {"through nginx": [], "straight to one API instance": []}
    async with topo.client() as edge, topo.api_direct(0) as direct:
        for n in range(jobs):
            user = users[n % len(users)]
            body = {"prompt": f"a tiny kitchen {n}", **SMALL}
            started = time.monotonic()
            job = (await edge.post("/jobs", json=body, headers=user.headers)).json()
            seen = await events(topo, job["id"], user)
            assert seen[-1]["type"] == "succeeded", seen[-1]
            times["through nginx"].append(time.monotonic() - started)

            started = time.monotonic()
            job = (await direct.post("/jobs", json=body, headers=user.headers)).json()
            sock = await topo.net.edge.open_connection("127.0.0.1", stack.API_PORTS[0], timeout=10)
            async with connect(
                f"ws://127.0.0.1:{stack.API_PORTS[0]}/jobs/{job['id']}/events",
                sock=sock,
                subprotocols=["bearer", user.token],
            ) as ws:  # type: ignore[list-item]
                async for raw in ws:
                    if json.loads(raw)["type"] in ("succeeded", "failed", "cancelled"):
                        break
            times["straight to one API instance"].append(time.monotonic() - started)
    return times


def summarise(rows: list[dict[str, Any]], title: str = "GET /images/{id}/content through nginx") -> None:
    print(f"\n{title} (median of rounds):")
    print(f"| {'scenario':45} | req/s | p50 ms | p99 ms | non-2xx |\n|{'-' * 47}|------:|-------:|-------:|--------:|")
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        mine = [r for r in rows if r["scenario"] == scenario]
        print(
            f"| {scenario:45} | {statistics.median(r['rps'] for r in mine):5.0f} | {statistics.median(r['p50'] for r in mine):6.2f} "
            f"| {statistics.median(r['p99'] for r in mine):6.2f} | {sum(r['non_2xx'] for r in mine):7} |"
        )


async def main(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install wrk)")
    t0 = time.monotonic()
    web_root = BASE.parent / (BASE.name + "-web")
    shutil.rmtree(web_root, ignore_errors=True)
    web_root.mkdir(parents=True)
    (web_root / "index.html").write_text("<!doctype html><title>bench</title>")
    web_root.chmod(0o755)
    try:
        async with stack.topology(BASE, store="s3", web_root=web_root, both_media=True) as topo:
            db = await topo.db()
            try:
                async with topo.client() as http:
                    users = [await sign_up(http, level="Pro-Tier", db=db) for _ in range(4)]
            finally:
                await db.close()
            print(f"\nload average at start: {Path('/proc/loadavg').read_text().split()[:3]}")
            print(f"\na gallery page of {PAGE} thumbnails, S3 half:")
            pages = await page_phase(topo, users[1], "S3", args)
            await switch_api_store(topo, "dir")
            print(f"a gallery page of {PAGE} thumbnails, directory half:")
            pages += await page_phase(topo, users[2], "directory", args)
            await switch_api_store(topo, "s3")
            summarise(pages, f"{PAGE} thumbnails of a gallery page through nginx, thumbnails/s")
            if args.pages_only:
                return
            print("\ncontent through nginx, S3 half:")
            rows = await content_phase(topo, users[0], "S3", args)
            await switch_api_store(topo, "dir")
            print("content through nginx, directory half:")
            rows += await content_phase(topo, users[0], "directory", args)
            await switch_api_store(topo, "s3")
            summarise(rows)

            latency = await tiny_job_latency(topo, users, args.jobs)
            print(
                f"\ntiny text2img job (64x64, 4 steps), POST /jobs to the succeeded event, {args.jobs} each, interleaved:"
            )
            for name, values in latency.items():
                print(
                    f"  {name:30} p50 {percentile(values, 50) * 1000:6.0f} ms  p99 {percentile(values, 99) * 1000:6.0f} ms"
                )

            if args.faults:
                from topology import test_faults

                for scenario in (
                    test_faults.test_worker_sigkilled_every_few_seconds,
                    test_faults.test_api_instance_killed_mid_load,
                    test_faults.test_redis_and_postgresql_restarted_under_load,
                    test_faults.test_s3_store_stopped,
                ):
                    await scenario(topo)
                print("\nfault counts:")
                for name, counts in test_faults.FAULT_COUNTS.items():
                    print(f"  {name}: {json.dumps(counts)}")
            print(f"\nload average at end: {Path('/proc/loadavg').read_text().split()[:3]}")
    finally:
        shutil.rmtree(web_root, ignore_errors=True)
        print(f"bench took {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per half")
    parser.add_argument("--jobs", type=int, default=20, help="tiny jobs per path for the end-to-end latency")
    parser.add_argument("--faults", action="store_true", help="also run the fault scenarios and print their counts")
    parser.add_argument("--pages-only", action="store_true", help="only section 0 (a gallery page's thumbnails)")
    parser.add_argument("--pages", type=int, default=20, help="page views per way for the API CPU figure")
    asyncio.run(main(parser.parse_args()))
