"""The production shape on one machine: what the NixOS modules start, on four namespace hosts.

``edge``: nginx (Debian's; config rendered by ``nixos/lib/render-nginx.nix``),
two ``housify-api serve`` instances on 127.0.0.1:8100/8101, ``housify-soap``,
PostgreSQL and Redis on the LAN address, the firewall ruleset from
``nixos/lib/render-nftables.nix``, and with ``store="s3"`` SeaweedFS's S3
gateway on the LAN address. ``gpu-1``/``gpu-2``: one ``housify-ai worker`` and
``housify-ai serve`` each, on the tiny models. Every service runs as its own
system user (see :mod:`procs`).

Dedicated PostgreSQL and Redis servers run *inside* ``edge`` (the machine's
own servers live in the root namespace, where a forward would make them look
like LAN services while they listen on loopback). They listen on the LAN
address (PostgreSQL on loopback too) plus a Unix socket for the local
services, as the edge module sets them: local connections use peer
authentication mapped to roles; the AI hosts come over the LAN with TLS only,
verifying the server's certificate (test CA) and name, and a SCRAM password
(PostgreSQL, ``sslmode=verify-full``) or their own ACL user (Redis).

The image storage directory is one path that all namespaces see, as an NFS
export with equal user and group ids is for the GPU hosts in production.

:func:`topology` is the async context manager the fixtures and the bench use;
it removes namespaces, processes and users on the way out, also after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from housify_common import redis_acl

from . import netns as nets
from .netns import EDGE_LAN, EDGE_WAN, GPU_LAN, LAN_IF, LAN_SUBNET, WAN_IF, Netns, Network
from .pki import TestPki, make_pki
from .procs import ACCOUNTS, STORAGE_GROUP, Service, chown, create_users, sweep_users, tcp_ready

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SERVER_NAME = "housify.test"
API_PORTS = (8100, 8101)
SOAP_PORT = 8300
AI_PORT = 8200
PG_PORT = 5432
REDIS_PORT = 6379
#: SeaweedFS: master, volume, filer, S3 gateway; each also opens port + 10000 for gRPC.
WEED_PORTS = {"master": 9333, "volume": 9334, "filer": 9335}
S3_PORT = 9336
S3_BUCKET = "housify"
#: nginx's loopback proxy over the GPU hosts' AI APIs (least_conn): the API's HOUSIFY_AI_URL.
AI_PROXY = "127.0.0.1:8280"


def _pg_bin() -> Path:
    """Debian's newest PostgreSQL server binaries (``/usr/lib/postgresql/<major>/bin``), or ``HOUSIFY_TOPOLOGY_PG_BIN``."""
    if os.environ.get("HOUSIFY_TOPOLOGY_PG_BIN"):
        return Path(os.environ["HOUSIFY_TOPOLOGY_PG_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
LOCK_FILE = Path("/run/housify-topology.lock")
#: Seconds a claimed job may go without a heartbeat before another worker takes it over.
#: Short, so a SIGKILLed worker's job moves on within the test's time (production: 60 s).
VISIBILITY_TIMEOUT = 3.0
#: Deliveries before a job fails for good. With the short visibility timeout, 10 deliveries span
#: ~40 s: longer than the S3 outage of the fault test (stop + SeaweedFS's ~15 s start), as the
#: production default (3 x 60 s) is longer than a store restart.
RETRY_LIMIT = 10

Store = Literal["dir", "s3"]


def nix_render(name: str, params: dict[str, Any]) -> str:
    """Evaluate ``nixos/lib/<name>.nix`` (a pure-builtins function) on ``params``; returns the rendered text.

    ``HOUSIFY_TOPOLOGY_NIX_LIB`` may name another directory holding the
    renderers (a checkout of a branch under review).
    """
    lib = Path(os.environ.get("HOUSIFY_TOPOLOGY_NIX_LIB", ROOT / "nixos" / "lib"))
    source = lib / f"{name}.nix"
    if not source.is_file():
        raise FileNotFoundError(f"{source} is missing: the topology test renders nginx and nftables from it")
    expr = f"(import {source}) (builtins.fromJSON {json.dumps(json.dumps(params))})"
    done = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--option", "substituters", "", "-E", expr],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:  # nix may print partial JSON before failing: trust the exit code only
        raise RuntimeError(f"rendering {source} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


@dataclass
class Topology:
    base: Path
    net: Network
    pki: TestPki
    store: Store
    redis_password: str
    ai_db_password: str
    #: Each service's own Redis ACL user (housify_common.redis_acl); ``redis_password`` is the admin's.
    redis_passwords: dict[str, str] = field(
        default_factory=lambda: {acl.user: secrets.token_hex(16) for acl in redis_acl.SERVICES}
    )
    s3_access_key_id: str = field(default_factory=lambda: "housify" + secrets.token_hex(6))
    s3_secret_access_key: str = field(default_factory=lambda: secrets.token_hex(20))
    #: The signed picture URLs' secret (HOUSIFY_MEDIA_URL_SECRET; nginx's secure_link include).
    media_url_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: The AI internal API's credential (HOUSIFY_AI_API_TOKEN), held by the API and the AI servers.
    ai_api_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    services: dict[str, Service] = field(default_factory=dict)
    #: Served by nginx as the web app's files (the renderer's webRoot); the bench's static ceiling.
    web_root: Path | None = None
    #: Render both internal media locations (directory and S3), so the API instances can switch stores.
    both_media: bool = False
    started_at: float = field(default_factory=time.monotonic)

    # --- addresses the tests use -------------------------------------------
    @property
    def public_url(self) -> str:
        return f"https://{SERVER_NAME}"

    @property
    def storage_dir(self) -> Path:
        return self.base / "storage"

    @property
    def pg_socket_dir(self) -> Path:
        return self.base / "run" / "postgresql"

    @property
    def redis_socket(self) -> Path:
        return self.base / "run" / "redis" / "redis.sock"

    def admin_database_url(self, db: str = "housify") -> str:
        """The test's own view of a database (Unix socket, as ``postgres``): filesystem sockets cross namespaces."""
        return f"postgresql://postgres@/{db}?host={self.pg_socket_dir}"

    def ai_database_url(self, host: str = EDGE_LAN, sslmode: str = "verify-full", rootcert: Path | None = None) -> str:
        """The AI hosts' ``HOUSIFY_DATABASE_URL`` (as nixos/hosts/gpu sets it): TLS to the edge's LAN
        address, its certificate checked against ``rootcert`` (default: the test CA) and the address
        dialled. asyncpg reads ``sslmode`` and ``sslrootcert`` from the DSN as libpq does."""
        return (
            f"postgresql://housify_ai:{self.ai_db_password}@{host}:{PG_PORT}/housify_ai"
            f"?sslmode={sslmode}&sslrootcert={rootcert or self.pki.ca_cert}"
        )

    def admin_redis_url(self) -> str:
        return f"unix://:{self.redis_password}@{self.redis_socket}"

    def client(self, **options: Any):  # noqa: ANN201 - httpx.AsyncClient
        """An HTTPS client on ``wan`` for ``https://housify.test`` (resolved to the edge's WAN address), verifying the test CA."""
        return self.net.wan.http(
            base_url=self.public_url, verify=self.pki.client_context(), resolve={SERVER_NAME: EDGE_WAN}, **options
        )

    def api_direct(self, index: int = 0, **options: Any):  # noqa: ANN201
        """A plain-HTTP client straight to one API instance (from inside ``edge``), bypassing nginx."""
        return self.net.edge.http(
            base_url=f"http://127.0.0.1:{API_PORTS[index]}", verify=self.pki.client_context(), http2=False, **options
        )

    async def redis(self):  # noqa: ANN201
        from redis.asyncio import Redis

        return Redis.from_url(self.admin_redis_url())

    async def db(self, name: str = "housify"):  # noqa: ANN201
        import asyncpg

        return await asyncpg.connect(self.admin_database_url(name))

    @property
    def s3_endpoint(self) -> str:
        return f"http://{EDGE_LAN}:{S3_PORT}"

    def media_env(self) -> dict[str, str]:
        """The API's picture-serving variables for the current store (docs/storage.md)."""
        return {
            "HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX": "/_media_s3/" if self.store == "s3" else "/_media/",
            "HOUSIFY_MEDIA_S3_URL_PREFIX": "/media/s3/" if self.store == "s3" else "",
            "HOUSIFY_MEDIA_URL_SECRET": self.media_url_secret,
        }

    def storage_env(self) -> dict[str, str]:
        """The storage variables every Housify service gets (``docs/storage.md``)."""
        if self.store == "dir":
            return {"HOUSIFY_STORAGE_DIR": str(self.storage_dir)}
        return {
            "HOUSIFY_STORAGE_URL": f"s3://{S3_BUCKET}",
            "HOUSIFY_S3_ENDPOINT_URL": self.s3_endpoint,
            "HOUSIFY_S3_ACCESS_KEY_ID": self.s3_access_key_id,
            "HOUSIFY_S3_SECRET_ACCESS_KEY": self.s3_secret_access_key,
            "HOUSIFY_S3_TIMEOUT_SECONDS": "5",
        }

    async def stored_bytes(self, key: str) -> bytes | None:
        """What the store holds under ``key`` (``None``: nothing): the file, or (S3) a presigned GET made from ``edge``."""
        if self.store == "dir":
            path = self.storage_dir / key
            return path.read_bytes() if path.is_file() else None
        from housify_common.storage import open_store
        from housify_common.storage.settings import load_storage_settings

        url = await open_store(load_storage_settings(self.storage_env())).presigned_get(key)  # type: ignore[attr-defined]
        async with self.net.edge.http(base_url=self.s3_endpoint, verify=self.pki.client_context(), http2=False) as http:
            response = await http.get(url)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.content

    async def store_has(self, key: str) -> bool:
        return await self.stored_bytes(key) is not None

    def workers(self) -> list[Service]:
        return [s for n, s in self.services.items() if n.startswith("worker-")]

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at


def _env(base: Path, role: str, **values: str) -> dict[str, str]:
    """A service's whole environment (nothing inherited from the test process, which points at its own database)."""
    home = base / "home" / role
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TMPDIR": "/tmp",  # private per service (PrivateTmp=true)
        **values,
    }


def _python(module: str, *args: str) -> list[str]:
    return [PYTHON, "-m", module, *args]


async def _once(
    name: str,
    netns: Netns,
    argv: list[str],
    env: dict[str, str],
    log: Path,
    user: str,
    group: str,
    timeout: float = 300.0,
) -> None:
    """Run a one-shot command (migrations, key generation) like a oneshot unit; raises with its log on failure."""
    svc = Service(name, netns, argv, env, log, user=user, group=group)
    svc.spawn()
    deadline = time.monotonic() + timeout
    while svc.proc.poll() is None:  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            svc.kill()
            raise RuntimeError(f"{name} timed out:\n{svc.tail()}")
        await asyncio.sleep(0.2)
    if svc.proc.returncode != 0:  # type: ignore[union-attr]
        raise RuntimeError(f"{name} failed with {svc.proc.returncode}:\n{svc.tail()}")  # type: ignore[union-attr]


def _sweep() -> None:
    nets.sweep()
    sweep_users()


@contextlib.asynccontextmanager
async def topology(
    base: Path,
    *,
    store: Store = "dir",
    workers_per_gpu: int = 1,
    web_root: Path | None = None,
    both_media: bool = False,
) -> AsyncIterator[Topology]:
    """Build and start everything; yields the running :class:`Topology`, tears it all down after.

    Holds an exclusive lock on :data:`LOCK_FILE` (one topology per machine:
    names and ports are fixed), sweeps what a killed earlier run left, and
    prints how long start-up and the whole run took.
    """
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    lock = LOCK_FILE.open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    t0 = time.monotonic()
    topo: Topology | None = None
    try:
        _sweep()
        if base.exists():
            shutil.rmtree(base)
        base.mkdir(parents=True)
        base.chmod(0o755)
        for sub in ("tmp",):
            (base / sub).mkdir()
            (base / sub).chmod(0o1777)
        create_users()
        net = nets.build()
        pki = make_pki(chown(base / "tls", "root", "root", 0o755), SERVER_NAME, [EDGE_WAN, EDGE_LAN])
        topo = Topology(
            base=base,
            net=net,
            pki=pki,
            store=store,
            web_root=web_root,
            both_media=both_media,
            redis_password=secrets.token_hex(16),
            ai_db_password=secrets.token_hex(16),
        )
        await _start(topo, workers_per_gpu)
        print(f"\ntopology up in {time.monotonic() - t0:.1f} s (store: {store})", flush=True)
        yield topo
    finally:
        if topo is not None:
            for svc in reversed(list(topo.services.values())):
                with contextlib.suppress(Exception):
                    svc.stop(timeout=10)
        _sweep()
        for leftover in base.iterdir() if base.exists() else ():
            if leftover.name != "logs":  # the services' logs stay for a look after a failure
                shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
        lock.close()
        print(f"\ntopology run took {time.monotonic() - t0:.1f} s (start, tests, teardown)", flush=True)


async def _start(topo: Topology, workers_per_gpu: int) -> None:
    base, net = topo.base, topo.net
    api, ai, soap = ACCOUNTS["api"], ACCOUNTS["ai"], ACCOUNTS["soap"]
    logs = chown(base / "logs", "root", "root", 0o755)
    for role, account in ACCOUNTS.items():
        chown(base / "home" / role, account.name, account.group, 0o700)
    # /var/lib/housify (StateDirectoryMode=0750) and its storage (setgid, group-shared: 2770).
    data = chown(base / "var-lib-housify", api.name, api.group, 0o750)
    chown(topo.storage_dir, api.name, STORAGE_GROUP, 0o2770)
    ai_data = chown(base / "var-lib-housify-ai", ai.name, ai.group, 0o750)
    soap_data = chown(base / "var-lib-housify-soap", soap.name, soap.group, 0o750)
    models = await _tiny_models(base)

    # --- PostgreSQL (user postgres, as Debian's and NixOS's) -----------------
    pgdata = chown(base / "pgdata", "postgres", "postgres", 0o700)
    chown(base / "run", "root", "root", 0o755)
    chown(topo.pg_socket_dir, "postgres", "postgres", 0o755)
    await _once(
        "initdb",
        net.edge,
        [str(PG_BIN / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=reject", "-E", "UTF8"],
        _env(base, "pg"),
        logs / "initdb.log",
        "postgres",
        "postgres",
    )
    _configure_postgresql(topo, pgdata)
    pg = Service(
        "postgresql",
        net.edge,
        [str(PG_BIN / "postgres"), "-D", str(pgdata)],
        _env(base, "pg"),
        logs / "postgresql.log",
        user="postgres",
        group="postgres",
        umask=0o077,
        ready=lambda: tcp_ready(net.edge, EDGE_LAN, PG_PORT),
    )
    topo.services["postgresql"] = await pg.start()
    conn = await _when_accepting(topo)
    try:
        for role, db in (("housify", "housify"), ("housify_soap", "housify_soap"), ("housify_ai", "housify_ai")):
            password = f" PASSWORD '{topo.ai_db_password}'" if role == "housify_ai" else ""
            await conn.execute(f"CREATE ROLE {role} LOGIN{password}")
            await conn.execute(f"CREATE DATABASE {db} OWNER {role}")
    finally:
        await conn.close()

    # --- Redis (append-only, noeviction, one ACL user per service; LAN address + socket) ------
    redis_dir = chown(base / "redis", "redis", STORAGE_GROUP, 0o750)
    chown(topo.redis_socket.parent, "redis", STORAGE_GROUP, 0o750)
    redis_conf = redis_dir / "redis.conf"
    aclfile = redis_dir / "users.acl"
    # TLS only on the LAN (as the NixOS module: tls-port, no plain TCP port); the socket stays for the edge
    redis_cert, redis_key = redis_dir / "tls.pem", redis_dir / "tls.key"
    shutil.copyfile(topo.pki.cert, redis_cert)
    shutil.copyfile(topo.pki.key, redis_key)
    aclfile.write_text(redis_acl.render_aclfile("housify:", topo.redis_passwords, admin_password=topo.redis_password))
    redis_conf.write_text(
        f"bind {EDGE_LAN}\nport 0\ntls-port {REDIS_PORT}\ntls-cert-file {redis_cert}\ntls-key-file {redis_key}\n"
        f'tls-auth-clients no\ntls-protocols "TLSv1.2 TLSv1.3"\n'
        f"unixsocket {topo.redis_socket}\nunixsocketperm 770\n"
        f'aclfile {aclfile}\nappendonly yes\nsave ""\nmaxmemory-policy noeviction\n'
        f"dir {redis_dir}\nprotected-mode no\n"
    )
    for path in (redis_conf, aclfile, redis_cert, redis_key):
        path.chmod(0o640)
        os.chown(path, 0, os.stat(redis_dir).st_gid)
    topo.services["redis"] = await Service(
        "redis",
        net.edge,
        ["redis-server", str(redis_conf)],
        _env(base, "redis"),
        logs / "redis.log",
        user="redis",
        group=STORAGE_GROUP,
        ready=lambda: tcp_ready(net.edge, EDGE_LAN, REDIS_PORT),
    ).start()

    if topo.store == "s3":
        await _start_s3(topo, logs)

    # --- one-shot units: keys and migrations ---------------------------------
    pg_local = f"host={topo.pg_socket_dir}"
    api_env = _env(
        base,
        "api",
        PICCOLO_CONF="housify_api.piccolo_conf",
        HOUSIFY_DATABASE_URL=f"postgresql:///housify?{pg_local}&user=housify",
        HOUSIFY_REDIS_URL=f"unix://housify-api:{topo.redis_passwords['housify-api']}@{topo.redis_socket}",
        HOUSIFY_REDIS_PREFIX="housify:",
        **topo.storage_env(),
        HOUSIFY_DATA_DIR=str(data),
        **topo.media_env(),
        HOUSIFY_JWT_PRIVATE_KEY_FILE=str(data / "keys" / "jwt-private.pem"),
        HOUSIFY_JWT_PUBLIC_KEY_FILE=str(data / "keys" / "jwt-public.pem"),
        HOUSIFY_AI_URL=f"http://{AI_PROXY}",
        HOUSIFY_AI_API_TOKEN=topo.ai_api_token,
        # the load tests sign up dozens of accounts from the one client address on purpose
        HOUSIFY_SIGNUP_MAX_PER_HOUR="10000",
        HOUSIFY_SOAP_WSDL_URL=f"http://{EDGE_LAN}:{SOAP_PORT}/soap?wsdl",
        HOUSIFY_PUBLIC_URL=topo.public_url,
        HOUSIFY_CORS_ORIGINS=topo.public_url,
    )
    soap_env = _env(
        base,
        "soap",
        PICCOLO_CONF="housify_soap.piccolo_conf",
        HOUSIFY_DATABASE_URL=f"postgresql:///housify_soap?{pg_local}&user=housify_soap",
        HOUSIFY_DATA_DIR=str(soap_data),
        HOUSIFY_SOAP_BINANCE_URL="http://127.0.0.1:9",
    )
    ai_env = _env(
        base,
        "ai",
        PICCOLO_CONF="housify_ai.piccolo_conf",
        HOUSIFY_DATABASE_URL=topo.ai_database_url(),
        HOUSIFY_REDIS_URL=f"rediss://housify-ai:{topo.redis_passwords['housify-ai']}@{EDGE_LAN}:{REDIS_PORT}/0"
        f"?ssl_ca_certs={topo.pki.ca_cert}",
        HOUSIFY_REDIS_PREFIX="housify:",
        **topo.storage_env(),
        HOUSIFY_DATA_DIR=str(ai_data),
        HOUSIFY_AI_DIFFUSION_MODEL=str(models / "tiny-sd"),
        HOUSIFY_AI_LLM_MODEL=str(models / "tiny-llama.gguf"),
        HOUSIFY_AI_LLM_MAX_TOKENS="64",
        HOUSIFY_AI_LLM_THREADS="1",
        HOUSIFY_AI_DEVICE="cpu",
        HOUSIFY_AI_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        HOUSIFY_AI_RETRY_LIMIT=str(RETRY_LIMIT),
        HOUSIFY_AI_API_TOKEN=topo.ai_api_token,
    )
    await asyncio.gather(
        _once(
            "api-keys",
            net.edge,
            _python("housify_api.cli", "keys", "generate", "--dir", str(data / "keys")),
            api_env,
            logs / "api-keys.log",
            api.name,
            api.group,
        ),
        _once(
            "api-migrate",
            net.edge,
            _python("housify_api.cli", "migrate"),
            api_env,
            logs / "api-migrate.log",
            api.name,
            api.group,
        ),
        _once(
            "soap-migrate",
            net.edge,
            _python("housify_soap.cli", "migrate"),
            soap_env,
            logs / "soap-migrate.log",
            soap.name,
            soap.group,
        ),
        _once(
            "ai-migrate",
            net.gpus["gpu-1"],
            _python("housify_ai.cli", "migrate"),
            ai_env,
            logs / "ai-migrate.log",
            ai.name,
            ai.group,
        ),
    )

    # --- long-running services -----------------------------------------------
    starting: list[Service] = [
        Service(
            "soap",
            net.edge,
            _python("housify_soap.cli", "serve", "--host", EDGE_LAN, "--port", str(SOAP_PORT), "--no-access-log"),
            soap_env,
            logs / "soap.log",
            user=soap.name,
            group=soap.group,
            cwd=soap_data,
            ready=lambda: tcp_ready(net.edge, EDGE_LAN, SOAP_PORT),
        ),
    ]
    for i, port in enumerate(API_PORTS):
        starting.append(
            Service(
                f"api-{i}",
                net.edge,
                _python(
                    "housify_api.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ),
                {**api_env, "HOUSIFY_MEDIA_CONSUMER_NAME": f"edge-housify-api-{i}"},
                logs / f"api-{i}.log",
                user=api.name,
                group=api.group,
                cwd=data,
                ready=_tcp(net.edge, "127.0.0.1", port),
            )
        )
    for host, address in GPU_LAN.items():
        ns = net.gpus[host]
        starting.append(
            Service(
                f"ai-api-{host}",
                ns,
                _python("housify_ai.cli", "serve", "--host", address, "--port", str(AI_PORT)),
                ai_env,
                logs / f"ai-api-{host}.log",
                user=ai.name,
                group=ai.group,
                cwd=ai_data,
                ready=_tcp(ns, address, AI_PORT),
            )
        )
        for w in range(workers_per_gpu):
            consumer = f"{host}-worker-{w}"
            starting.append(
                Service(
                    f"worker-{consumer}",
                    ns,
                    _python("housify_ai.cli", "worker"),
                    {**ai_env, "HOUSIFY_AI_CONSUMER": consumer},
                    logs / f"worker-{consumer}.log",
                    user=ai.name,
                    group=ai.group,
                    cwd=ai_data,
                    ready=_worker_ready(topo, consumer),
                )
            )
    for svc in starting:
        topo.services[svc.name] = svc
        svc.spawn()
    await asyncio.gather(*(svc.wait_ready() for svc in starting))

    # --- firewall and nginx ----------------------------------------------------
    internal_ports = [PG_PORT, REDIS_PORT, SOAP_PORT] + ([S3_PORT] if topo.store == "s3" else [])
    ruleset = nix_render(
        "render-nftables",
        {
            "wanInterface": WAN_IF,
            "lanInterface": LAN_IF,
            "lanSubnets": [LAN_SUBNET],
            "internalTcpPorts": internal_ports,
        },
    )
    (base / "nftables.conf").write_text(ruleset)
    net.edge.sh("nft", "-f", str(base / "nftables.conf"))
    await _start_nginx(topo, logs)


async def _start_s3(topo: Topology, logs: Path) -> None:
    """SeaweedFS (``weed server`` with its S3 gateway) on the LAN address as its own user; one private bucket.

    The gateway checks SigV4 signatures against one identity (``-s3.config``):
    anonymous requests get 403, as with Garage's keys in production.
    """
    from storage.seaweedfs import weed_binary

    s3 = ACCOUNTS["s3"]
    root = chown(topo.base / "seaweedfs", s3.name, s3.group, 0o750)
    chown(root / "data", s3.name, s3.group, 0o750)
    identity = {
        "name": "housify",
        "credentials": [{"accessKey": topo.s3_access_key_id, "secretKey": topo.s3_secret_access_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    (root / "s3.json").write_text(json.dumps({"identities": [identity]}))
    os.chown(root / "s3.json", 0, os.stat(root).st_gid)
    (root / "s3.json").chmod(0o640)
    p = WEED_PORTS
    argv = [
        weed_binary(),
        "server",
        f"-dir={root / 'data'}",
        f"-ip={EDGE_LAN}",
        f"-ip.bind={EDGE_LAN}",
        "-master.telemetry=false",
        f"-master.port={p['master']}",
        f"-volume.port={p['volume']}",
        f"-filer.port={p['filer']}",
        "-master.volumeSizeLimitMB=64",
        "-s3",
        f"-s3.port={S3_PORT}",
        "-s3.port.lance=0",
        "-s3.port.iceberg=0",
        f"-s3.config={root / 's3.json'}",
    ]
    svc = Service(
        "s3",
        topo.net.edge,
        argv,
        _env(topo.base, "s3"),
        logs / "seaweedfs.log",
        user=s3.name,
        group=s3.group,
        cwd=root,
        ready=_tcp(topo.net.edge, EDGE_LAN, S3_PORT),
    )
    topo.services["s3"] = await svc.start()
    deadline = time.monotonic() + 90
    while True:  # the cluster takes a few seconds to accept a bucket
        out = topo.net.edge.sh(
            "sh",
            "-c",
            f"echo 's3.bucket.create -name {S3_BUCKET}' | {weed_binary()} shell -master={EDGE_LAN}:{p['master']}",
            check=False,
        )
        if f"created bucket {S3_BUCKET}" in out.stdout or "already exist" in out.stdout + out.stderr:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"cannot create bucket {S3_BUCKET}: {out.stdout[-1000:]} {out.stderr[-1000:]}")
        await asyncio.sleep(0.5)


def _configure_postgresql(topo: Topology, pgdata: Path) -> None:
    """Authentication, TLS and listening of the topology's PostgreSQL, as the edge module sets them.

    The edge's own services use the socket with peer authentication mapped to
    roles; the AI hosts reach the LAN address over TLS only (``hostssl``: a
    clear-text LAN client matches no line and is refused) with a SCRAM
    password, and check the server's certificate (``sslmode=verify-full``
    against the test CA, whose server certificate names the LAN address).
    ``log_connections`` (with the client address, ``%r``) records for every
    session whether it is TLS (``test_postgres_tls``).
    """
    api, ai, soap = ACCOUNTS["api"], ACCOUNTS["ai"], ACCOUNTS["soap"]
    (pgdata / "pg_hba.conf").write_text(
        "# local services: peer authentication, system user -> role (identMap of the edge module)\n"
        "local all postgres trust\n"  # the test harness's own checks, over the socket only
        "local sameuser all peer map=housify\n"
        "# the AI hosts: TLS only (no plain `host` line)\n"
        f"hostssl housify_ai housify_ai {LAN_SUBNET} scram-sha-256\n"
    )
    (pgdata / "pg_ident.conf").write_text(
        f"housify {api.name} housify\nhousify {ai.name} housify_ai\nhousify {soap.name} housify_soap\n"
    )
    # PostgreSQL refuses a key readable by others than its owner (or root with group postgres)
    cert, key = pgdata / "server.crt", pgdata / "server.key"
    for source, target in ((topo.pki.cert, cert), (topo.pki.key, key)):
        shutil.copyfile(source, target)
        shutil.chown(target, "postgres", "postgres")
        target.chmod(0o600)
    with (pgdata / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nlisten_addresses = 'localhost,{EDGE_LAN}'\nport = {PG_PORT}\n"
            f"unix_socket_directories = '{topo.pg_socket_dir}'\n"
            "password_encryption = 'scram-sha-256'\nfsync = off\nmax_connections = 200\n"
            f"ssl = on\nssl_cert_file = '{cert}'\nssl_key_file = '{key}'\nssl_min_protocol_version = 'TLSv1.2'\n"
            "log_connections = on\nlog_line_prefix = '%m [%p] %r '\n"
        )


def _tcp(ns: Netns, host: str, port: int):  # noqa: ANN202
    return lambda: tcp_ready(ns, host, port)


def _worker_ready(topo: Topology, consumer: str):  # noqa: ANN202
    """Ready once the worker's heartbeat (``seen_at``) is newer than its latest start: a killed one leaves its old entry."""
    import msgspec

    from housify_ai.contract import StreamKeys

    async def ready() -> bool:
        svc = topo.services[f"worker-{consumer}"]
        client = await topo.redis()
        try:
            raw = await client.hget(StreamKeys("housify:").workers(), consumer)
            return raw is not None and msgspec.json.decode(raw)["seen_at"] > svc.spawned_at
        except Exception:  # noqa: BLE001 - Redis not answering yet
            return False
        finally:
            await client.aclose()

    return ready


def nginx_version() -> str:
    """The installed nginx's version (``nginx -v`` writes ``nginx version: nginx/1.22.1`` to stderr)."""
    return subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().rsplit("/", 1)[-1]


async def _when_accepting(topo: Topology, within: float = 60.0):  # noqa: ANN202 - asyncpg.Connection
    """A connection to ``postgres`` once PostgreSQL takes them: its port opens while it is still
    starting up ("the database system is starting up"), which a busy machine stretches to seconds."""
    import asyncpg

    deadline = time.monotonic() + within
    while True:
        try:
            return await topo.db("postgres")
        except asyncpg.CannotConnectNowError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def nginx_params(topo: Topology) -> dict[str, Any]:
    """The renderer's parameters for this topology (the NixOS module passes its options the same way).

    ``nginxVersion`` makes the renderer use the 1.22 ``listen ... http2``
    form and leave HTTP/3 off: Debian's nginx 1.22 has no QUIC.
    """
    params: dict[str, Any] = {
        "serverName": SERVER_NAME,
        "apiUpstreams": [f"127.0.0.1:{p}" for p in API_PORTS],
        "tlsCertificate": str(topo.pki.cert),
        "tlsCertificateKey": str(topo.pki.key),
        "clientMaxBodySize": "1000M",
        "nginxVersion": nginx_version(),
        "aiUpstreams": [f"{address}:{AI_PORT}" for address in GPU_LAN.values()],
        "aiProxyListen": AI_PROXY,
        "metricsAllow": [LAN_SUBNET],
    }
    if topo.store == "s3" or topo.both_media:
        params["s3Endpoint"] = topo.s3_endpoint
    if topo.store == "dir" or topo.both_media:
        params["mediaRoot"] = str(topo.storage_dir)
    # the signed picture URLs: nginx's secure_link secret, and its cache of public pictures
    params["mediaSecretInclude"] = str(topo.base / "nginx" / "media-secret.conf")
    params["mediaCachePath"] = str(topo.base / "nginx" / "media-cache")
    if topo.web_root is not None:
        params["webRoot"] = str(topo.web_root)
    return params


async def _start_nginx(topo: Topology, logs: Path) -> None:
    nginx_dir = chown(topo.base / "nginx", "root", "root", 0o755)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        chown(nginx_dir / "temp" / sub, ACCOUNTS["nginx"].name, ACCOUNTS["nginx"].group, 0o700)
    chown(nginx_dir / "media-cache", ACCOUNTS["nginx"].name, ACCOUNTS["nginx"].group, 0o700)
    from housify_common.storage.signing import nginx_secret_include

    secret = nginx_dir / "media-secret.conf"  # read by the master (root) only
    secret.write_text(nginx_secret_include(topo.media_url_secret))
    secret.chmod(0o600)
    http_text = nix_render("render-nginx", nginx_params(topo))
    (nginx_dir / "housify.conf").write_text(http_text)
    temp = nginx_dir / "temp"
    (
        nginx_dir / "nginx.conf"
    ).write_text(f"""# main context for the topology test; the http context is rendered (housify.conf)
user {ACCOUNTS["nginx"].name};
worker_processes 2;
daemon off;
pid {nginx_dir}/nginx.pid;
error_log {logs}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  sendfile on;
  access_log off;
  client_body_temp_path {temp}/client_body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  include {nginx_dir}/housify.conf;
}}
""")
    topo.net.edge.sh("nginx", "-t", "-q", "-c", str(nginx_dir / "nginx.conf"))
    svc = Service(
        "nginx",
        topo.net.edge,
        ["nginx", "-c", str(nginx_dir / "nginx.conf")],
        _env(topo.base, "nginx"),
        logs / "nginx.log",
        umask=0o022,
        ready=_tcp(topo.net.edge, EDGE_WAN, 443),
    )
    topo.services["nginx"] = await svc.start()


async def _tiny_models(base: Path) -> Path:
    """``housify-ai models build-tiny`` once per machine (cached under /var/cache), copied world-readable into ``base``."""
    cache = Path(os.environ.get("HOUSIFY_TOPOLOGY_MODEL_CACHE", "/var/cache/housify-topology/models"))
    if not (cache / "tiny-sd" / "model_index.json").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        proc = await asyncio.create_subprocess_exec(
            PYTHON,
            "-m",
            "housify_ai.cli",
            "models",
            "build-tiny",
            str(cache),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"models build-tiny failed:\n{out.decode()[-3000:]}")
    dest = base / "models"
    shutil.copytree(cache, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def stop_all(topo: Topology) -> None:
    for svc in topo.services.values():
        svc.stop(signal.SIGTERM, timeout=10)
