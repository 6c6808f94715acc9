"""Issue 17: PostgreSQL takes LAN clients over TLS only, and the AI hosts check whom they talk to.

As the edge module sets it (``hostssl`` lines only, ``ssl = true``) and the
GPU hosts connect (``sslmode=verify-full&sslrootcert=<CA>``), see
``stack._configure_postgresql``:

* a clear-text connection from a GPU host, with the right password, is
  refused by the server (no pg_hba line), while the same one over TLS is let in;
* ``verify-full`` refuses a server whose certificate another CA signed, and a
  server reached under a name its certificate does not hold (``verify-ca``,
  which skips only the name check, gets through the handshake there);
* the running services' sessions: every session of a Housify role that came
  over TCP is TLS (the server's connection log, which records every session of
  the run, and ``pg_stat_ssl`` sampled while jobs run); the rest are the edge's
  own services on the Unix socket (peer authentication, where TLS does not
  apply). The AI services' run-log rows of the jobs prove their writes got through.

The probes run ``asyncpg`` (the services' driver) in a subprocess inside the
host's network namespace.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .clients import sign_up
from .load import submit_jobs, wait_final
from .netns import EDGE_LAN, EDGE_WAN, GPU_LAN, Netns
from .pki import make_pki
from .stack import PYTHON, SERVER_NAME, Topology

#: The roles of the Housify services (the edge module's ``databases``).
HOUSIFY_ROLES = ("housify", "housify_soap", "housify_ai")
TLS_VERSIONS = {"TLSv1.2", "TLSv1.3"}

#: argv[1:] are DSNs; prints one JSON list with, per DSN, what the client saw.
_PROBE = """
import asyncio, json, sys
import asyncpg

async def probe(dsn):
    try:
        conn = await asyncpg.connect(dsn, timeout=30)
    except Exception as exc:
        return {"connected": False, "error": type(exc).__name__, "message": str(exc)}
    try:
        row = await conn.fetchrow("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        return {"connected": True, "ssl": row["ssl"], "version": row["version"]}
    finally:
        await conn.close()

async def main():
    print(json.dumps([await probe(dsn) for dsn in sys.argv[1:]]))

asyncio.run(main())
"""


def _probe(host: Netns, *dsns: str) -> list[dict[str, object]]:
    """Connect to each DSN from ``host`` with asyncpg, one after another."""
    done = host.sh(PYTHON, "-c", _PROBE, *dsns)
    return json.loads(done.stdout)


def _assert_tls_session(seen: dict[str, object]) -> None:
    assert seen["connected"] and seen["ssl"] is True, seen
    assert seen["version"] in TLS_VERSIONS, seen


async def test_no_pg_hba_line_takes_clear_text_from_the_network(topo: Topology) -> None:
    """The rules the server loaded: the socket (``local``) and ``hostssl``; no ``host``/``hostnossl`` line."""
    conn = await topo.db("postgres")
    try:
        rules = await conn.fetch("SELECT type, database, user_name, address, error FROM pg_hba_file_rules")
    finally:
        await conn.close()
    print(f"\npg_hba: {[(r['type'], r['database'], r['user_name'], r['address']) for r in rules]}")
    assert all(r["error"] is None for r in rules), rules
    assert {r["type"] for r in rules} == {"local", "hostssl"}, rules
    network = [r for r in rules if r["type"] != "local"]
    assert [(r["database"], r["user_name"]) for r in network] == [(["housify_ai"], ["housify_ai"])], network


def test_clear_text_from_a_gpu_host_is_refused(topo: Topology) -> None:
    clear, tls = _probe(topo.net.gpus["gpu-1"], topo.ai_database_url(sslmode="disable"), topo.ai_database_url())
    print(f"\nfrom gpu-1, sslmode=disable: {clear}\nfrom gpu-1, sslmode=verify-full: {tls}")
    _assert_tls_session(tls)  # the same role, password and database are let in over TLS
    assert not clear["connected"] and clear["error"] == "InvalidAuthorizationSpecificationError", clear
    assert "no pg_hba.conf entry" in str(clear["message"]) and "no encryption" in str(clear["message"]), clear


def test_verify_full_refuses_another_ca_and_another_name(topo: Topology) -> None:
    # another CA with a certificate for the very same names: only the signer differs
    directory = topo.base / "tls-other-ca"
    directory.mkdir(exist_ok=True)
    other = make_pki(directory, SERVER_NAME, [EDGE_WAN, EDGE_LAN])
    wrong_ca, verify_ca = _probe(
        topo.net.gpus["gpu-1"],
        topo.ai_database_url(rootcert=other.ca_cert),
        topo.ai_database_url(sslmode="verify-ca"),
    )
    print(f"\nfrom gpu-1, verify-full against another CA: {wrong_ca}\nverify-ca against the test CA: {verify_ca}")
    assert not wrong_ca["connected"] and wrong_ca["error"] == "SSLCertVerificationError", wrong_ca
    assert "certificate verify failed" in str(wrong_ca["message"]), wrong_ca
    _assert_tls_session(verify_ca)

    # The edge's server under a name its certificate lacks: its loopback address (it listens
    # there as in production, where no pg_hba line admits TCP from loopback).
    wrong_name, no_name_check = _probe(
        topo.net.edge,
        topo.ai_database_url(host="127.0.0.1"),
        topo.ai_database_url(host="127.0.0.1", sslmode="verify-ca"),
    )
    print(f"from edge to 127.0.0.1, verify-full: {wrong_name}\nverify-ca: {no_name_check}")
    assert not wrong_name["connected"] and wrong_name["error"] == "SSLCertVerificationError", wrong_name
    assert "mismatch" in str(wrong_name["message"]) and "127.0.0.1" in str(wrong_name["message"]), wrong_name
    # without the name check the handshake succeeds and the server's own rules answer (no line for loopback)
    assert no_name_check["error"] == "InvalidAuthorizationSpecificationError", no_name_check
    assert '"127.0.0.1"' in str(no_name_check["message"]) and "SSL encryption" in str(no_name_check["message"])


@dataclass(frozen=True)
class Session:
    """One ``connection authorized`` line of the server log (``log_line_prefix = '%m [%p] %r '``)."""

    pid: int
    remote: str  # "[local]" for the Unix socket, else "address(port)"
    user: str
    tls: str | None  # the protocol, e.g. "TLSv1.3"; None without TLS

    @property
    def address(self) -> str | None:
        return None if self.remote == "[local]" else self.remote.split("(")[0]


_AUTHORIZED = re.compile(
    r"\[(?P<pid>\d+)\] (?P<remote>\S+) LOG:  connection authorized: user=(?P<user>\S+) database=\S+"
    r"(?: application_name=.*?)?(?: SSL enabled \(protocol=(?P<tls>[^,]+),.*)?$"
)


def _sessions(log: Path, offset: int = 0) -> list[Session]:
    with log.open("rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    found = (_AUTHORIZED.search(line) for line in text.splitlines())
    return [Session(int(m["pid"]), m["remote"], m["user"], m["tls"]) for m in found if m]


def _environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_ai_processes_dial_postgresql_with_verify_full(topo: Topology) -> None:
    """What the running AI processes were given: a DSN that asks asyncpg for TLS with the CA and name checked."""
    services = [s for n, s in topo.services.items() if n.startswith(("worker-", "ai-api-"))]
    assert len(services) >= 2 * len(GPU_LAN), list(topo.services)
    for svc in services:
        # the deepest process of the tree running the CLI: the interpreter, not a wrapper that exec'd it
        interpreter = [p for p in svc.pids() if b"housify_ai.cli" in Path(f"/proc/{p}/cmdline").read_bytes()][-1]
        url = urlsplit(_environment(interpreter)["HOUSIFY_DATABASE_URL"])
        query = parse_qs(url.query)
        assert url.hostname == EDGE_LAN, (svc.name, url.hostname)
        assert query["sslmode"] == ["verify-full"] and query["sslrootcert"] == [str(topo.pki.ca_cert)], svc.name


async def test_every_housify_session_over_tcp_is_tls(topo: Topology) -> None:
    log = topo.base / "logs" / "postgresql.log"
    offset = log.stat().st_size
    sampled: dict[int, tuple[str, str | None, bool]] = {}  # pid -> (role, client address, ssl)
    done = asyncio.Event()

    async def sample() -> None:
        """pg_stat_ssl of every client backend of a Housify role, every 10 ms until the jobs are final."""
        conn = await topo.db("postgres")
        try:
            while not done.is_set():
                rows = await conn.fetch(
                    "SELECT a.pid, a.usename, host(a.client_addr) AS client, s.ssl FROM pg_stat_activity a"
                    " JOIN pg_stat_ssl s ON s.pid = a.pid"
                    " WHERE a.backend_type = 'client backend' AND a.usename = ANY($1::text[])",
                    list(HOUSIFY_ROLES),
                )
                for r in rows:
                    sampled[r["pid"]] = (r["usename"], r["client"], r["ssl"])
                await asyncio.sleep(0.01)
        finally:
            await conn.close()

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    try:
        async with topo.client() as http:
            user = await sign_up(http)
            submitted = await submit_jobs(http, [user], 4)
        assert len(submitted.accepted) == 4, submitted.refused
        finals = await wait_final(topo, submitted.accepted, timeout=180)
    finally:
        done.set()
        await sampler
    assert {row["status"] for row in finals.values()} == {"succeeded"}, finals
    conn = await topo.db("housify_ai")
    try:
        runs = await conn.fetch(
            "SELECT job_id, worker FROM ai_inference_run WHERE job_id = ANY($1::text[])", submitted.accepted
        )
    finally:
        await conn.close()
    # the workers' run log is written over TLS from the GPU hosts (a failed write would not fail the job)
    assert sorted(r["job_id"] for r in runs) == sorted(submitted.accepted), runs

    every = [s for s in _sessions(log) if s.user in HOUSIFY_ROLES]
    new = _sessions(log, offset)
    over_tcp = [s for s in every if s.address is not None]
    print(
        f"\n{len(every)} sessions of Housify roles in the server log, {len(over_tcp)} over TCP "
        f"(TLS: {sorted({s.tls for s in over_tcp}, key=str)}); during the {time.monotonic() - started:.1f} s"
        f" of 4 jobs: {len([s for s in new if s.address])} over TCP (run log by "
        f"{sorted({r['worker'] for r in runs})}); pg_stat_ssl sampled {len(sampled)} backends: "
        f"{sorted(set(sampled.values()), key=str)}"
    )
    assert all(s.tls in TLS_VERSIONS for s in over_tcp), [s for s in over_tcp if s.tls not in TLS_VERSIONS]
    assert {s.address for s in over_tcp} <= set(GPU_LAN.values()), over_tcp
    assert {s.user for s in over_tcp} == {"housify_ai"}, over_tcp
    assert {s.user for s in every if s.address is None} <= {"housify", "housify_soap"}  # the edge's socket
    assert any(s.address in GPU_LAN.values() and s.tls for s in new), new  # the jobs' run-log writes

    # the same from the server's live view: TCP backends are TLS, the API's pooled ones are on the socket
    assert all(ssl for _, client, ssl in sampled.values() if client is not None), sampled
    assert all(role != "housify_ai" for role, client, _ in sampled.values() if client is None), sampled
    assert any(role == "housify" for role, _, _ in sampled.values()), sampled
