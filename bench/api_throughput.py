"""housify-api throughput and latency, one server worker (granian by default), on loopback.

Scenarios (issue 2): ``GET /health``; ``GET /auth/whoami`` (authenticated, reads only
the token's claims); ``GET /users/me`` (token + one database read); ``POST /auth/token``
with ``grant_type=refresh_token`` (ES512 verify + sign, one conditional UPDATE, one SELECT).
Each connection logs in once and reuses its access token for the whole run, as
clients do; the refresh scenario chains each connection's own rotated refresh token.

The server is ``housify-api serve`` in its own process (one worker, access
log off). The load generator is this process: a minimal HTTP/1.1 keep-alive
client on uvloop, so it costs far less CPU per request than the server. On a
2-core machine the two share the cores, so treat figures as lower bounds.

By default it uses the local PostgreSQL (a temporary database, dropped at the
end) and Redis (a temporary key prefix, deleted); ``--embedded`` uses SQLite +
the in-process Redis stand-in instead.

    python bench/api_throughput.py [--seconds 5] [--rounds 5] [--connections 16] [--embedded]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

PG_ADMIN = os.environ.get("HOUSIFY_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("HOUSIFY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "bench-password-correct-horse"


class Conn:
    """One keep-alive HTTP/1.1 connection; ``request`` returns ``(status, body)``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, host: str, port: int) -> Conn:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length) if length else b""

    def close(self) -> None:
        self.writer.close()


def form(data: dict[str, str]) -> tuple[dict[str, str], bytes]:
    return {"Content-Type": "application/x-www-form-urlencoded"}, urllib.parse.urlencode(data).encode()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (granian serves from a worker process)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            total += cpu_seconds(current)
        except (FileNotFoundError, ProcessLookupError):
            continue
        stack.extend(parents.get(current, []))
    return total


async def run_scenario(
    name: str,
    conns: list[Conn],
    make_request,
    seconds: float,
    server_pid: int | None = None,  # noqa: ANN001
    warmup: float = 0.3,
) -> dict:
    """Every connection sends back-to-back requests for ``seconds`` (after a short warm-up)."""
    latencies: list[float] = []
    errors = 0
    stop_at = 0.0
    recording = False

    async def worker(index: int) -> None:
        nonlocal errors
        while True:
            now = time.perf_counter()
            if recording and now >= stop_at:
                return
            method, path, headers, body = make_request(index)
            start = time.perf_counter()
            status, payload = await conns[index].request(method, path, headers, body)
            elapsed = time.perf_counter() - start
            if status != 200:
                errors += 1
                if errors < 3:
                    print(f"  {name}: HTTP {status} {payload[:200]!r}", file=sys.stderr)
            elif hasattr(make_request, "after"):
                make_request.after(index, payload)
            if recording:
                latencies.append(elapsed)

    async def warm() -> None:
        nonlocal recording, stop_at
        await asyncio.sleep(warmup)
        latencies.clear()
        recording = True
        stop_at = time.perf_counter() + seconds

    tasks = [asyncio.create_task(worker(i)) for i in range(len(conns))]
    await warm()
    began = time.perf_counter()
    cpu_began = tree_cpu_seconds(server_pid) if server_pid else 0.0
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - began
    cpu = (tree_cpu_seconds(server_pid) - cpu_began) if server_pid else 0.0
    return {"scenario": name, "latencies": latencies, "wall": wall, "cpu": cpu, "errors": errors}


def summarise(slices: list[dict]) -> dict:
    """Merge the slices of one scenario taken in several rounds."""
    latencies = sorted(x for s in slices for x in s["latencies"])
    wall = sum(s["wall"] for s in slices)
    return {
        "scenario": slices[0]["scenario"],
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": sum(s["errors"] for s in slices),
        # Server CPU per request: robust to a machine shared with other work, unlike req/s.
        "cpu_ms": sum(s["cpu"] for s in slices) / len(latencies) * 1000 if latencies else 0.0,
    }


def es512_verify_cost(samples: int = 200) -> float:
    """Seconds per PyJWT ES512 verification on this machine (the cost the claims cache avoids)."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP521R1())
    token = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, key, algorithm="ES512")
    public = key.public_key()
    start = time.perf_counter()
    for _ in range(samples):
        jwt.decode(token, public, algorithms=["ES512"])
    return (time.perf_counter() - start) / samples


async def wait_ready(port: int, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            conn = await Conn.open("127.0.0.1", port)
            status, _ = await conn.request("GET", "/ready")
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"server not ready:\n{log.read_text()}")


async def bench(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> list[dict]:
    port = args.port
    log = workdir / "server.log"
    with log.open("w") as handle:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "housify_api.cli",
                "serve",
                "--port",
                str(port),
                "--migrate",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        await wait_ready(port, proc, log)
        conns = [await Conn.open("127.0.0.1", port) for _ in range(args.connections)]
        access: list[str] = []
        refresh: list[str] = []
        for i, conn in enumerate(conns):
            email = f"bench-{i}-{secrets.token_hex(3)}@example.com"
            status, body = await conn.request(
                "POST",
                "/auth/register",
                {"Content-Type": "application/json"},
                json.dumps({"email": email, "password": PASSWORD}).encode(),
            )
            assert status == 201, body
            headers, payload = form({"grant_type": "password", "username": email, "password": PASSWORD})
            status, body = await conn.request("POST", "/auth/token", headers, payload)
            assert status == 200, body
            tokens = json.loads(body)
            access.append(tokens["access_token"])
            refresh.append(tokens["refresh_token"])

        def health(i: int):  # noqa: ANN202
            return "GET", "/health", None, b""

        def whoami(i: int):  # noqa: ANN202
            return "GET", "/auth/whoami", {"Authorization": f"Bearer {access[i]}"}, b""

        def me(i: int):  # noqa: ANN202
            return "GET", "/users/me", {"Authorization": f"Bearer {access[i]}"}, b""

        def refresh_grant(i: int):  # noqa: ANN202
            headers, payload = form({"grant_type": "refresh_token", "refresh_token": refresh[i]})
            return "POST", "/auth/token", headers, payload

        def after_refresh(i: int, body: bytes) -> None:
            refresh[i] = json.loads(body)["refresh_token"]

        refresh_grant.after = after_refresh  # type: ignore[attr-defined]
        scenarios = [
            ("GET /health", health),
            ("GET /auth/whoami (claims only)", whoami),
            ("GET /users/me", me),
            ("POST /auth/token (refresh grant)", refresh_grant),
        ]
        # Interleave short slices over several rounds so load from other work on the
        # machine falls on every scenario alike (the ratios are what the targets are about).
        slices: dict[str, list[dict]] = {name: [] for name, _ in scenarios}
        for _ in range(args.rounds):
            for name, maker in scenarios:
                slices[name].append(await run_scenario(name, conns, maker, args.seconds / args.rounds, proc.pid))
        results = [summarise(slices[name]) for name, _ in scenarios]
        for conn in conns:
            conn.close()
        return results
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per scenario, over all rounds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the seconds are split into")
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument(
        "--embedded", action="store_true", help="SQLite + in-process Redis stand-in instead of local PostgreSQL/Redis"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="housify-bench-"))
    env = {
        **os.environ,
        "PICCOLO_CONF": "housify.piccolo_conf",
        "HOUSIFY_DATA_DIR": str(workdir),
        "HOUSIFY_SMTP_HOST": "",
        "HOUSIFY_LOGIN_MAX_FAILURES_IP": "100000",
    }
    stores = None
    if args.embedded:
        env.pop("HOUSIFY_DATABASE_URL", None)
        env.pop("HOUSIFY_REDIS_URL", None)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from testkit import ScratchStores

        stores = ScratchStores("bench", PG_ADMIN, REDIS_URL).create()
        env["HOUSIFY_DATABASE_URL"] = stores.database_url
        env["HOUSIFY_REDIS_URL"] = REDIS_URL
        env["HOUSIFY_REDIS_PREFIX"] = stores.redis_prefix
    try:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        results = asyncio.run(bench(args, env, workdir))
    finally:
        if stores is not None:
            stores.drop()

    verify = es512_verify_cost()
    cap = 1 / verify
    backend = "SQLite + fakeredis" if args.embedded else "PostgreSQL + Redis (local)"
    print(
        f"housify-api, 1 worker, {args.connections} keep-alive connections, {args.seconds:.0f} s per scenario in {args.rounds} interleaved rounds, "
        f"{os.cpu_count()} CPU cores (server and load generator share them), {backend}"
    )
    print(
        f"{'scenario':36} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'server CPU ms/req':>18} {'= req/s per core':>17}"
    )
    for r in results:
        per_core = 1000 / r["cpu_ms"] if r["cpu_ms"] else float("nan")
        print(
            f"{r['scenario']:36} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['errors']:7d} {r['cpu_ms']:18.3f} {per_core:17.0f}"
        )
    health, claims, me = results[0], results[1], results[2]
    print(
        f"load average while measuring: {os.getloadavg()[0]:.1f} (other work on the machine lowers req/s; CPU per request is steadier)"
    )
    print(f"ES512 verify: {verify * 1000:.2f} ms -> one verification per request would cap a core at {cap:.0f} req/s")
    print(
        f"claims-only / health: {claims['rps'] / health['rps']:.0%} by req/s, {health['cpu_ms'] / claims['cpu_ms']:.0%} by CPU per request (target >= 50%)"
    )
    print(
        f"/users/me vs one ES512 verify per request: {me['rps'] / cap:.1f}x by req/s, {(1000 / me['cpu_ms']) / cap:.1f}x by CPU per request (target >= 2x)"
    )


if __name__ == "__main__":
    main()
