"""``nixos/lib/render-nftables.nix``: the ruleset checked by nft and enforced in network namespaces.

The renderer is pure builtins (``nix-instantiate`` alone). ``nft -c -f`` checks
each rendered variant against the kernel; then three namespaces joined by veth
links (``wan`` - ``edge`` - ``lan``) show the rules at work: a port listening on
every address of ``edge``, reachable from the WAN before the ruleset is loaded,
is silently dropped after it (a timeout, not a refusal), while 80/443 stay
open and the LAN reaches its internal ports only from the listed subnets.
Needs root (CI runs as root) and ``nft``/``ip``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import render, rendered

pytestmark = [
    pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed (apt-get install nftables)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="nft -c and network namespaces need root (CI runs as root)"),
]

EDGE = {
    "wanInterface": "wan0",
    "lanInterface": "lan0",
    "lanSubnets": ["10.0.1.0/26", "fd00:1::/64"],
    "internalTcpPorts": [5432, 6379, 3900, 8200],
    "managementSubnets": ["10.0.1.20/32"],
}


def nft_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "ruleset.nft"
    path.write_text(text)
    return subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(EDGE, id="edge"),
        pytest.param(
            EDGE
            | {
                "portSources": [{"ports": [8300], "sources": ["10.0.1.11/32", "fd00:1::11"]}],
                "internalUdpPorts": [3901],
            },
            id="edge-with-narrow-sources",
        ),
        pytest.param(
            {
                "wanInterface": None,
                "lanInterface": "enp2s0",
                "lanSubnets": ["10.0.1.0/24"],
                "internalTcpPorts": [8200],
                "publicTcpPorts": [],
                "publicUdpPorts": [],
            },
            id="gpu-behind-nat",
        ),
        pytest.param(
            {"wanInterface": None, "lanInterface": "eth1", "lanSubnets": [], "internalTcpPorts": []},
            id="nothing-internal",
        ),
    ],
)
def test_nft_accepts_the_rendered_ruleset(tmp_path: Path, params: dict) -> None:
    text = rendered("nftables", params, tmp_path)
    result = nft_check(text, tmp_path)
    assert result.returncode == 0, result.stderr + "\n" + text


def test_nft_rejects_a_broken_ruleset(tmp_path: Path) -> None:
    """The check above can fail."""
    text = rendered("nftables", EDGE, tmp_path).replace("policy drop;", "policy dropp;", 1)
    assert nft_check(text, tmp_path).returncode != 0


def test_ruleset_shape(tmp_path: Path) -> None:
    text = rendered("nftables", EDGE, tmp_path)
    assert 'iifname "wan0" jump wan_input' in text
    wan = text[text.index("chain wan_input {") :].split("\n    }", 1)[0]
    assert "tcp dport { 80, 443 } accept" in wan and "udp dport { 443 } accept" in wan
    assert "5432" not in wan
    assert 'iifname "lan0" ip saddr { 10.0.1.0/26 } tcp dport { 5432, 6379, 3900, 8200 } accept' in text
    assert 'iifname "lan0" ip6 saddr { fd00:1::/64 } tcp dport { 5432, 6379, 3900, 8200 } accept' in text
    assert 'iifname "lan0" ip saddr { 10.0.1.20/32 } tcp dport 22 accept' in text
    assert "type filter hook forward priority filter; policy drop;" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lanSubnets": ["0.0.0.0/0"]}, "not the whole Internet"),
        ({"managementSubnets": ["::/0"]}, "not the whole Internet"),
        ({"wanInterface": "lan0"}, "are both"),
        ({"lanInterface": "a name that is far too long"}, "is not an interface name"),
        ({"internalTcpPorts": [70000]}, "ports must be integers"),
        ({"lanSubnets": []}, "lanSubnets is empty"),
        ({"portSources": [{"ports": [8300], "sources": ["0.0.0.0/0"]}]}, "portSources entries"),
        ({"openTcpRanges": [{"from": 9000, "to": 8000}]}, "from <= to"),
        ({"openOnInterfaces": [{"interface": "wan0", "tcpPorts": [8080]}]}, "names the WAN interface"),
    ],
)
def test_bad_parameters_fail_with_their_message(tmp_path: Path, change: dict, message: str) -> None:
    result = render("nftables", EDGE | change, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


# --- enforced --------------------------------------------------------------------------------

LISTENER = """
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16); s.setblocking(False); sel.register(s, selectors.EVENT_READ)
print("listening", flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept(); conn.close()
"""

PROBE = """
import socket, sys
host, port, source = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(); s.settimeout(1.0); s.bind((source, 0))
try:
    s.connect((host, port)); print("open")
except ConnectionRefusedError:
    print("refused")
except (TimeoutError, socket.timeout):
    print("dropped")
"""

PORTS = [22, 443, 5432, 8300]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory) -> Iterator[dict[str, str]]:
    """Namespaces wan (192.0.2.2), edge (wan0 192.0.2.1, lan0 10.0.1.10) and lan (10.0.1.20 and 10.0.1.100)."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed")
    tag = secrets.token_hex(3)
    ns = {name: f"hfw-{name}-{tag}" for name in ("wan", "edge", "lan")}
    listener = None
    try:
        for name in ns.values():
            ip("netns", "add", name)
        ip("link", "add", f"w{tag}", "type", "veth", "peer", "name", f"e{tag}")
        ip("link", "add", f"l{tag}", "type", "veth", "peer", "name", f"f{tag}")
        ip("link", "set", f"w{tag}", "netns", ns["wan"], "name", "eth0")
        ip("link", "set", f"e{tag}", "netns", ns["edge"], "name", "wan0")
        ip("link", "set", f"l{tag}", "netns", ns["lan"], "name", "eth0")
        ip("link", "set", f"f{tag}", "netns", ns["edge"], "name", "lan0")
        for name, dev, addresses in (
            ("wan", "eth0", ["192.0.2.2/24"]),
            ("edge", "wan0", ["192.0.2.1/24"]),
            ("edge", "lan0", ["10.0.1.10/24"]),
            ("lan", "eth0", ["10.0.1.20/24", "10.0.1.100/24"]),
        ):
            for address in addresses:
                ip("-n", ns[name], "addr", "add", address, "dev", dev)
            ip("-n", ns[name], "link", "set", dev, "up")
            ip("-n", ns[name], "link", "set", "lo", "up")
        listener = subprocess.Popen(
            ["ip", "netns", "exec", ns["edge"], sys.executable, "-c", LISTENER, *map(str, PORTS)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert listener.stdout is not None and listener.stdout.readline().strip() == "listening"
        yield ns
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        for name in ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def probe(ns: str, host: str, port: int, source: str) -> str:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", PROBE, host, str(port), source],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_ruleset_admits_only_the_public_ports_from_the_wan(hosts: dict[str, str], tmp_path: Path) -> None:
    wan, edge, lan = hosts["wan"], hosts["edge"], hosts["lan"]
    # Without the ruleset every port answers on the WAN address: the drops below are the firewall's.
    assert {port: probe(wan, "192.0.2.1", port, "192.0.2.2") for port in PORTS} == dict.fromkeys(PORTS, "open")
    assert probe(wan, "192.0.2.1", 9, "192.0.2.2") == "refused"

    rules = tmp_path / "edge.nft"
    rules.write_text(rendered("nftables", EDGE, tmp_path))
    subprocess.run(["ip", "netns", "exec", edge, "nft", "-f", str(rules)], check=True)
    # Loading it twice replaces the table instead of stacking rules.
    subprocess.run(["ip", "netns", "exec", edge, "nft", "-f", str(rules)], check=True)
    listed = subprocess.run(
        ["ip", "netns", "exec", edge, "nft", "list", "ruleset"], capture_output=True, text=True, check=True
    ).stdout
    assert listed.count("chain input {") == 1

    started = time.monotonic()
    from_wan = {port: probe(wan, "192.0.2.1", port, "192.0.2.2") for port in [*PORTS, 9]}
    assert from_wan == {22: "dropped", 443: "open", 5432: "dropped", 8300: "dropped", 9: "dropped"}
    assert time.monotonic() - started < 20
    # LAN: internal ports and SSH from the listed sources only; 443 is public.
    allowed = {port: probe(lan, "10.0.1.10", port, "10.0.1.20") for port in PORTS}
    assert allowed == {22: "open", 443: "open", 5432: "open", 8300: "dropped"}
    other = {port: probe(lan, "10.0.1.10", port, "10.0.1.100") for port in PORTS}
    assert other == {22: "dropped", 443: "open", 5432: "dropped", 8300: "dropped"}
    # The WAN cannot reach internal ports on the LAN address either (arrives on wan0).
    subprocess.run(["ip", "-n", wan, "route", "add", "10.0.1.0/24", "via", "192.0.2.1"], check=True)
    assert probe(wan, "10.0.1.10", 5432, "192.0.2.2") == "dropped"
    assert probe(wan, "10.0.1.10", 443, "192.0.2.2") == "open"

    # networking.firewall's openings (other modules' openFirewall): the LAN from any source, never the WAN.
    rules.write_text(rendered("nftables", {**EDGE, "openTcpPorts": [8300]}, tmp_path))
    subprocess.run(["ip", "netns", "exec", edge, "nft", "-f", str(rules)], check=True)
    assert probe(lan, "10.0.1.10", 8300, "10.0.1.100") == "open"
    assert probe(wan, "192.0.2.1", 8300, "192.0.2.2") == "dropped"
    assert probe(wan, "10.0.1.10", 8300, "192.0.2.2") == "dropped"
