"""Test hosts as Linux network namespaces (ip-netns(8)) joined by veth links.

Layout (addresses exist only inside the namespaces; the root namespace gets
no address and no route)::

    wan (198.18.77.100) ── wan0 │ edge │ lan0 ── br0 (namespace "lan") ── eth0 gpu-1 (10.77.1.21)
                     198.18.77.1│      │10.77.1.10                   └─── eth0 gpu-2 (10.77.1.22)

198.18.0.0/15 is the benchmarking range of RFC 2544 (never routed on the
Internet), 10.77.1.0/24 a private LAN (RFC 1918). ``wan`` routes everything
through the edge host's WAN address, so a packet from ``wan`` to the edge's LAN
address arrives on ``wan0`` and only the firewall stops it. Nothing forwards
between ``wan0`` and ``lan0`` (``net.ipv4.ip_forward`` stays 0 in ``edge``).

Every namespace name starts with :data:`PREFIX`; :func:`sweep` removes all of
them (killing their processes first), so a run killed half-way is cleaned up
by the next one.

Sockets of the test process are opened *inside* a namespace with setns(2) on
the calling thread only (a network namespace is per thread), so the test's
HTTP and WebSocket clients are really on ``wan`` while the test process stays
in the root namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpcore
import httpx
from httpcore._backends.anyio import AnyIOStream

PREFIX = "hfyt-"
LAN_SUBNET = "10.77.1.0/24"
WAN_SUBNET = "198.18.77.0/24"
EDGE_LAN = "10.77.1.10"
EDGE_WAN = "198.18.77.1"
WAN_CLIENT = "198.18.77.100"
GPU_LAN = {"gpu-1": "10.77.1.21", "gpu-2": "10.77.1.22"}
LAN_IF = "lan0"
WAN_IF = "wan0"

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_setns_lock = threading.Lock()


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command (``ip``, ``nft`` ...) and return it; raises with its stderr on failure."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
    return done


@dataclass(frozen=True)
class Netns:
    """One network namespace ("host") named ``PREFIX + host``."""

    host: str

    @property
    def name(self) -> str:
        return PREFIX + self.host

    @property
    def path(self) -> Path:
        return Path("/run/netns") / self.name

    def exec_prefix(self) -> list[str]:
        """argv prefix that runs a command inside this namespace."""
        return ["ip", "netns", "exec", self.name]

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "-n", self.name, *args, check=check)

    def sh(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(*self.exec_prefix(), *argv, check=check)

    def pids(self) -> list[int]:
        done = run("ip", "netns", "pids", self.name, check=False)
        return [int(p) for p in done.stdout.split()]

    def socket(self, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
        """A socket created inside this namespace (it stays there for its whole life)."""
        with _setns_lock, open(self.path) as target, open("/proc/thread-self/ns/net") as home:
            _setns(target.fileno())
            try:
                return socket.socket(family, kind)
            finally:
                _setns(home.fileno())

    async def open_connection(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection from this namespace; raises ``TimeoutError`` or ``OSError``."""
        sock = self.socket()
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    async def probe(self, host: str, port: int, timeout: float = 1.5) -> str:
        """``"open"``, ``"refused"`` or ``"dropped"`` (no answer within ``timeout``) for host:port from here."""
        try:
            sock = await self.open_connection(host, port, timeout)
        except TimeoutError:
            return "dropped"
        except ConnectionRefusedError:
            return "refused"
        sock.close()
        return "open"

    def http(
        self,
        *,
        base_url: str,
        verify: ssl.SSLContext,
        http2: bool = True,
        timeout: float = 60.0,
        max_connections: int = 100,
        resolve: dict[str, str] | None = None,
    ) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` whose connections are opened from this namespace.

        ``resolve`` maps host names to addresses (the test's DNS): the URL,
        ``Host`` header and TLS server name keep the name.
        """
        transport = httpx.AsyncHTTPTransport(verify=verify, http2=http2)
        # httpx exposes no network backend; the pool it would build, with ours.
        transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001
            ssl_context=verify,
            http1=True,
            http2=http2,
            max_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=NetnsBackend(self, resolve or {}),
        )
        return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)


class NetnsBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with TCP sockets opened in a :class:`Netns` (anyio streams otherwise)."""

    def __init__(self, netns: Netns, resolve: dict[str, str]) -> None:
        self.netns = netns
        self.resolve = resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            sock = await self.netns.open_connection(self.resolve.get(host, host), port, timeout or 30.0)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return AnyIOStream(await anyio.abc.SocketStream.from_socket(sock))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise NotImplementedError

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


def sweep() -> list[str]:
    """Remove every namespace named ``PREFIX*`` (killing the processes in it); returns their names."""
    removed = []
    for line in run("ip", "netns", "list").stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(PREFIX):
            ns = Netns(name.removeprefix(PREFIX))
            for pid in ns.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            run("ip", "netns", "del", name, check=False)
            removed.append(name)
    return removed


@dataclass
class Network:
    """The four hosts and the LAN switch, built by :func:`build`."""

    wan: Netns
    edge: Netns
    gpus: dict[str, Netns]
    lan: Netns

    def all(self) -> list[Netns]:
        return [self.wan, self.edge, *self.gpus.values(), self.lan]


def build() -> Network:
    """Create the namespaces, links, addresses and routes; raises ``RuntimeError`` naming the failed command."""
    net = Network(wan=Netns("wan"), edge=Netns("edge"), gpus={h: Netns(h) for h in GPU_LAN}, lan=Netns("lan"))
    for ns in net.all():
        run("ip", "netns", "add", ns.name)
        ns.ip("link", "set", "lo", "up")
    lan = net.lan
    lan.ip("link", "add", "br0", "type", "bridge")
    lan.ip("link", "set", "br0", "up")

    def plug(host: Netns, ifname: str, port: str, address: str) -> None:
        run(
            "ip",
            "link",
            "add",
            "name",
            ifname,
            "netns",
            host.name,
            "type",
            "veth",
            "peer",
            "name",
            port,
            "netns",
            lan.name,
        )
        lan.ip("link", "set", port, "master", "br0")
        lan.ip("link", "set", port, "up")
        host.ip("addr", "add", f"{address}/24", "dev", ifname)
        host.ip("link", "set", ifname, "up")

    plug(net.edge, LAN_IF, "p-edge", EDGE_LAN)
    for i, (host, address) in enumerate(GPU_LAN.items()):
        plug(net.gpus[host], "eth0", f"p-gpu{i + 1}", address)

    run(
        "ip",
        "link",
        "add",
        "name",
        WAN_IF,
        "netns",
        net.edge.name,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        net.wan.name,
    )
    net.edge.ip("addr", "add", f"{EDGE_WAN}/24", "dev", WAN_IF)
    net.edge.ip("link", "set", WAN_IF, "up")
    net.wan.ip("addr", "add", f"{WAN_CLIENT}/24", "dev", "eth0")
    net.wan.ip("link", "set", "eth0", "up")
    net.wan.ip("route", "add", "default", "via", EDGE_WAN)
    net.edge.sh("sysctl", "-qw", "net.ipv4.ip_forward=0")
    return net
