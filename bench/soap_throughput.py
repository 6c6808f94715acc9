"""GetCryptoRate calls/second and latency with a warm cache, N concurrent keep-alive clients.

Starts a fake Binance on loopback and ``housify-soap serve --no-access-log``
(one uvicorn worker; warm-cache calls run on its event loop, the rest in spyne's
thread pool) in a subprocess on a temporary SQLite database, warms the cache
with one call, then runs ``--clients`` connections that each send raw SOAP
envelopes back to back for ``--seconds``. The load generator is
plain asyncio streams (no HTTP library) so it takes as little of the shared
CPU as possible; it still runs on the same machine, so calls/s is a floor. The
server's CPU time per call (from /proc) gives the capacity of one worker with a
core to itself, which does not depend on what else the machine is doing.

    python bench/soap_throughput.py [--clients 32] [--seconds 10] [--threads 8]

Target (issue 5): >= 1,000 calls/s on one worker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

from housify_soap.fake_binance import FakeBinance

SYMBOL = "BTCUSDT"
ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:housify:soap:crypto">'
    f"<soapenv:Body><c:GetCryptoRate><c:symbol>{SYMBOL}</c:symbol></c:GetCryptoRate></soapenv:Body></soapenv:Envelope>"
).encode()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all threads), from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def client(port: int, deadline: float, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"POST /soap HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml; charset=utf-8\r\n"
        f'SOAPAction: "GetCryptoRate"\r\nContent-Length: {len(ENVELOPE)}\r\n\r\n'
    ).encode() + ENVELOPE
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200") or b"Price>" not in body:
                errors.append(head.split(b"\r\n", 1)[0].decode())
    finally:
        writer.close()


async def run_load(port: int, clients: int, seconds: float) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(client(port, started + seconds, latencies, errors) for _ in range(clients)))
    return latencies, errors, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8, help="HOUSIFY_SOAP_THREADS (spyne worker threads)")
    args = parser.parse_args()

    with FakeBinance({SYMBOL: "43000.12000000"}) as fake, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = dict(
            os.environ,
            PICCOLO_CONF="housify_soap.piccolo_conf",
            HOUSIFY_DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite",
            HOUSIFY_SOAP_BINANCE_URL=fake.url,
            HOUSIFY_SOAP_CACHE_TTL="3600",  # warm cache for the whole run
            HOUSIFY_SOAP_THREADS=str(args.threads),
        )
        subprocess.run([sys.executable, "-m", "housify_soap.cli", "migrate"], env=env, check=True, capture_output=True)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "housify_soap.cli",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
        )
        try:
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            warm = httpx.post(f"http://127.0.0.1:{port}/soap", content=ENVELOPE, headers={"Content-Type": "text/xml"})
            assert warm.status_code == 200, warm.text
            asyncio.run(run_load(port, args.clients, 1.0))  # JIT-free warm-up: imports, thread pool, WSDL-free path
            cpu_before = cpu_seconds(server.pid)
            latencies, errors, elapsed = asyncio.run(run_load(port, args.clients, args.seconds))
            server_cpu = cpu_seconds(server.pid) - cpu_before
        finally:
            server.terminate()
            server.wait(timeout=10)
        upstream = fake.count(SYMBOL)

    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    print(
        f"GetCryptoRate, warm cache, {args.clients} clients, {args.threads} threads, {elapsed:.1f}s on {os.cpu_count()} cores"
    )
    print(f"  calls/s  {len(latencies) / elapsed:8.0f}   (target >= 1000)")
    print(
        f"  latency  p50 {p(0.50):.1f} ms   p90 {p(0.90):.1f} ms   p99 {p(0.99):.1f} ms   mean {statistics.fmean(latencies) * 1000:.1f} ms"
    )
    cpu_ms = server_cpu / max(1, len(latencies)) * 1000
    print(
        f"  server   {server_cpu / elapsed:.2f} cores busy, {cpu_ms:.3f} ms CPU per call -> {1000 / cpu_ms:.0f} calls/s if it had one core to itself"
    )
    print(f"  errors   {len(errors)}   upstream requests {upstream} (1 = cache held)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
