"""housify-api against the FastAPI + JWT + SQL stack, measured in one run with wrk.

Starts both servers itself on loopback, one worker each: ``housify-api serve``
(PostgreSQL + Redis, temporary database and key prefix) and
``bench/baseline_fastapi.py`` under uvicorn (the same database, the same ES512 access
token). Then, for ``--rounds`` rounds, runs ``wrk -t1 -c<connections> -d<seconds>s
--latency`` on each route against each app, alternating which app goes first, so load
from other work on the machine falls on both alike. With ``--pin`` (default on a
machine with two or more cores) the servers run on CPU 0 and wrk on CPU 1
(``taskset``), so the load generator never takes the server's core.

Printed per app and route: req/s (median of the rounds), p50/p99 latency (medians),
non-2xx responses, and the server's CPU time per request (from ``/proc``, steadier than
req/s on a shared machine). Then the ratios the targets are about (issue 13):
Housify ``/health`` vs FastAPI's (≥ 1.3×), Housify ``/users/me`` vs FastAPI's (≥ 4×),
Housify's claims-only ``/auth/whoami`` vs its own ``/health`` (≥ 60 %).

    python bench/api_vs_fastapi.py [--seconds 5] [--rounds 3] [--connections 32]
        [--baseline-alg ES512|HS256] [--server uvicorn|granian] [--no-pin]

Needs ``wrk`` (Debian package ``wrk``) and the ``bench`` extra (FastAPI).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from api_throughput import PASSWORD, PG_ADMIN, REDIS_URL, Conn, form, tree_cpu_seconds

BENCH_DIR = Path(__file__).resolve().parent
ROUTES = ("/health", "/auth/whoami", "/users/me")
APPS = ("housify", "fastapi")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict[str, float]:
    """req/s, p50/p99 (ms) and non-2xx count from ``wrk --latency`` output."""

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "requests": float(total.group(1)) if total else 0.0,
        "p50": latency("50"),
        "p99": latency("99"),
        "bad": float(bad.group(1)) if bad else 0.0,
        "socket_errors": float(sum(int(x) for x in errors.groups())) if errors else 0.0,
    }


def run_wrk(url: str, token: str | None, args: argparse.Namespace, seconds: float) -> str:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds:g}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    if args.pin:
        command = ["taskset", "-c", "1", *command]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True, timeout=seconds + 30)
    return done.stdout


async def wait_ready(port: int, path: str, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")  # noqa: ASYNC240 - once, on failure
        try:
            conn = await Conn.open("127.0.0.1", port)
            status, _ = await conn.request("GET", path)
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"server on port {port} not ready:\n{log.read_text()}")  # noqa: ASYNC240 - once, on failure


def start(command: list[str], env: dict[str, str], log: Path, pin: bool, cwd: Path | None = None) -> subprocess.Popen:
    if pin:
        command = ["taskset", "-c", "0", *command]
    with log.open("w") as handle:
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=cwd)


async def login(port: int) -> str:
    """Register a fresh account on Housify and return a password-grant access token."""
    conn = await Conn.open("127.0.0.1", port)
    try:
        email = f"bench-{secrets.token_hex(4)}@example.com"
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
        return json.loads(body)["access_token"]
    finally:
        conn.close()


def measure(args: argparse.Namespace, ports: dict[str, int], pids: dict[str, int], tokens: dict[str, str]) -> dict:
    """``{(app, route): [slice, ...]}`` over the interleaved rounds."""
    results: dict[tuple[str, str], list[dict[str, float]]] = {(a, r): [] for a in APPS for r in ROUTES}
    for app in APPS:  # warm-up: imports, pools, the verified-token cache, JIT-free but cache-warm
        for route in ROUTES:
            run_wrk(f"http://127.0.0.1:{ports[app]}{route}", tokens[app], args, 1)
    for round_no in range(args.rounds):
        order = APPS if round_no % 2 == 0 else APPS[::-1]
        for route in ROUTES:
            for app in order:
                cpu_before = tree_cpu_seconds(pids[app])
                out = run_wrk(
                    f"http://127.0.0.1:{ports[app]}{route}",
                    None if route == "/health" else tokens[app],
                    args,
                    args.seconds,
                )
                figures = parse_wrk(out)
                figures["cpu_ms"] = (tree_cpu_seconds(pids[app]) - cpu_before) / max(figures["requests"], 1) * 1000
                results[(app, route)].append(figures)
                print(
                    f"  round {round_no + 1} {app:8} {route:13} {figures['rps']:8.0f} req/s  p50 {figures['p50']:6.2f} ms  "
                    f"p99 {figures['p99']:6.2f} ms  cpu {figures['cpu_ms']:.3f} ms/req  non-2xx {figures['bad']:.0f}",
                    file=sys.stderr,
                    flush=True,
                )
    return results


def summary(slices: list[dict[str, float]]) -> dict[str, float]:
    return {
        "rps": statistics.median(s["rps"] for s in slices),
        "p50": statistics.median(s["p50"] for s in slices),
        "p99": statistics.median(s["p99"] for s in slices),
        "cpu_ms": statistics.median(s["cpu_ms"] for s in slices),
        "bad": sum(s["bad"] + s["socket_errors"] for s in slices),
    }


def hs256_token(access: str, secret: str) -> str:
    """An HS256 token with the same claims as Housify's ES512 ``access`` (for ``--baseline-alg HS256``)."""
    import jwt

    return jwt.encode(jwt.decode(access, options={"verify_signature": False}), secret, algorithm="HS256")


async def run(args: argparse.Namespace, workdir: Path, database_url: str, redis_prefix: str) -> dict:
    from housify_api.auth.keys import generate_keypair

    private_key, public_key = generate_keypair(workdir / "keys")
    ports = {"housify": args.port, "fastapi": args.port + 1}
    housify_env = {
        **os.environ,
        "PICCOLO_CONF": "housify_api.piccolo_conf",
        "HOUSIFY_DATA_DIR": str(workdir),
        "HOUSIFY_SMTP_HOST": "",
        "HOUSIFY_DATABASE_URL": database_url,
        "HOUSIFY_REDIS_URL": REDIS_URL,
        "HOUSIFY_REDIS_PREFIX": redis_prefix,
        "HOUSIFY_JWT_PRIVATE_KEY_FILE": str(private_key),
        "HOUSIFY_JWT_PUBLIC_KEY_FILE": str(public_key),
        # One token per app for the whole run (clients reuse theirs): longer than the run.
        "HOUSIFY_ACCESS_TOKEN_TTL_SECONDS": "7200",
    }
    if args.housify_src:  # before/after on one machine state: an older tree first on the path
        housify_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(args.housify_src) / "src"), os.environ.get("PYTHONPATH")])
        )
    procs: dict[str, subprocess.Popen] = {}
    logs = {app: workdir / f"{app}.log" for app in APPS}
    try:
        procs["housify"] = start(
            [
                sys.executable,
                "-m",
                "housify_api.cli",
                "serve",
                "--port",
                str(ports["housify"]),
                "--migrate",
                "--no-access-log",
                "--log-level",
                "warning",
                *(["--server", args.server] if args.server else []),
            ],
            housify_env,
            logs["housify"],
            args.pin,
        )
        await wait_ready(ports["housify"], "/ready", procs["housify"], logs["housify"])
        access = await login(ports["housify"])
        import jwt

        claims = jwt.decode(access, options={"verify_signature": False})
        secret = secrets.token_hex(32)
        baseline_env = {
            **os.environ,
            "BASELINE_DATABASE_URL": database_url,
            "BASELINE_JWT_ALGORITHM": args.baseline_alg,
            "BASELINE_JWT_PUBLIC_KEY_FILE": str(public_key),
            "BASELINE_JWT_SECRET": secret,
            "BASELINE_JWT_ISSUER": claims["iss"],
            "BASELINE_JWT_AUDIENCE": claims["aud"],
        }
        procs["fastapi"] = start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "baseline_fastapi:app",
                "--port",
                str(ports["fastapi"]),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            baseline_env,
            logs["fastapi"],
            args.pin,
            cwd=BENCH_DIR,
        )
        await wait_ready(ports["fastapi"], "/health", procs["fastapi"], logs["fastapi"])
        tokens = {"housify": access, "fastapi": access if args.baseline_alg == "ES512" else hs256_token(access, secret)}
        pids = {app: proc.pid for app, proc in procs.items()}
        results = measure(args, ports, pids, tokens)
        return {key: summary(value) for key, value in results.items()}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (medians are printed)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--port", type=int, default=18775, help="Housify's port; the baseline takes the next one")
    parser.add_argument(
        "--baseline-alg",
        choices=("ES512", "HS256"),
        default="ES512",
        help="what the FastAPI app verifies per request: Housify's ES512 token (default) or an HS256 copy",
    )
    parser.add_argument("--server", choices=("uvicorn", "granian"), default=None, help="housify-api serve --server")
    parser.add_argument(
        "--housify-src",
        default=None,
        help="run Housify from this source tree (e.g. a worktree of an older commit) instead of the installed one",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="servers on CPU 0, wrk on CPU 1 (taskset)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")

    sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
    from testkit import ScratchStores

    workdir = Path(tempfile.mkdtemp(prefix="housify-vs-fastapi-"))
    stores = ScratchStores("benchfa", PG_ADMIN, REDIS_URL).create()
    load_before = os.getloadavg()[0]
    try:
        results = asyncio.run(run(args, workdir, stores.database_url, stores.redis_prefix))
    finally:
        stores.drop()
        shutil.rmtree(workdir, ignore_errors=True)

    server = (args.server or "default server") + (f", source {args.housify_src}" if args.housify_src else "")
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds:g}s, {args.rounds} alternating rounds (medians), "
        f"one worker each ({server} for Housify, uvicorn for FastAPI), {'servers on CPU 0, wrk on CPU 1' if args.pin else 'unpinned'}, "
        f"{os.cpu_count()} cores, PostgreSQL + Redis local; baseline verifies {args.baseline_alg} per request"
    )
    print(f"{'app':8} {'route':13} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} {'non-2xx':>8}")
    for app in APPS:
        for route in ROUTES:
            r = results[(app, route)]
            print(
                f"{app:8} {route:13} {r['rps']:8.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['cpu_ms']:11.3f} {r['bad']:8.0f}"
            )
    h, f = (lambda route: results[("housify", route)]), (lambda route: results[("fastapi", route)])
    print(
        f"load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after (other work lowers req/s; CPU/req is steadier)"
    )
    print(
        f"/health    Housify / FastAPI: {h('/health')['rps'] / f('/health')['rps']:.2f}x by req/s, "
        f"{f('/health')['cpu_ms'] / h('/health')['cpu_ms']:.2f}x by CPU/req (target >= 1.3x)"
    )
    print(
        f"/users/me  Housify / FastAPI: {h('/users/me')['rps'] / f('/users/me')['rps']:.2f}x by req/s, "
        f"{f('/users/me')['cpu_ms'] / h('/users/me')['cpu_ms']:.2f}x by CPU/req (target >= 4x)"
    )
    print(
        f"/auth/whoami / /health (Housify): {h('/auth/whoami')['rps'] / h('/health')['rps']:.0%} by req/s, "
        f"{h('/health')['cpu_ms'] / h('/auth/whoami')['cpu_ms']:.0%} by CPU/req (target >= 60%)"
    )


if __name__ == "__main__":
    main()
