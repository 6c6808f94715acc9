"""From ``wan`` only 80 and 443 reach the edge host; the internal ports answer on the LAN only.

The ruleset is ``nixos/lib/render-nftables.nix`` rendered with this topology's
interfaces and ports and loaded with ``nft -f`` in ``edge`` (see ``stack``).
Each internal port is first shown to listen on the edge's LAN address (a GPU
host connects), and the same probes from ``wan`` are shown to succeed with the
ruleset flushed, so the check can fail; with the ruleset loaded they must be
*dropped* (no answer), not refused.
"""

from __future__ import annotations

import asyncio
import ssl

from .netns import EDGE_LAN, EDGE_WAN, GPU_LAN
from .stack import AI_PORT, AI_PROXY, PG_PORT, REDIS_PORT, S3_PORT, SOAP_PORT, Topology


def _internal(topo: Topology) -> dict[str, int]:
    ports = {"postgresql": PG_PORT, "redis": REDIS_PORT, "soap": SOAP_PORT}
    if topo.store == "s3":
        ports["s3"] = S3_PORT
    return ports


async def _wan_view(topo: Topology, ports: dict[str, int]) -> dict[str, str]:
    """Probe every port on both edge addresses from ``wan`` at once (a dropped probe waits out its timeout)."""
    targets = {
        f"{name}@{where}": (address, port)
        for name, port in ports.items()
        for where, address in (("lan-address", EDGE_LAN), ("wan-address", EDGE_WAN))
    }
    results = await asyncio.gather(*(topo.net.wan.probe(*target) for target in targets.values()))
    return dict(zip(targets, results, strict=True))


async def test_only_80_and_443_reach_edge_from_wan(topo: Topology) -> None:
    ports = _internal(topo)
    gpu = topo.net.gpus["gpu-1"]
    listening = {name: await gpu.probe(EDGE_LAN, port) for name, port in ports.items()}
    print(f"\nfrom gpu-1 to {EDGE_LAN}: {listening}")
    assert set(listening.values()) == {"open"}, listening

    public = {port: await topo.net.wan.probe(EDGE_WAN, port) for port in (80, 443)}
    assert public == {80: "open", 443: "open"}, public

    blocked = await _wan_view(topo, ports)
    print(f"from wan, ruleset loaded: {blocked}")
    assert set(blocked.values()) == {"dropped"}, blocked

    # The same probes without the ruleset: the LAN-address ports answer, so the check above can fail.
    topo.net.edge.sh("nft", "flush", "ruleset")
    try:
        open_edge = await _wan_view(topo, ports)
    finally:
        topo.net.edge.sh("nft", "-f", str(topo.base / "nftables.conf"))
    print(f"from wan, ruleset flushed: {open_edge}")
    assert all(open_edge[f"{name}@lan-address"] == "open" for name in ports), open_edge
    assert (await _wan_view(topo, ports)) == blocked


async def test_ai_api_is_reachable_from_the_lan_only(topo: Topology) -> None:
    """The AI internal API listens on the GPU hosts' LAN addresses; the edge does not route wan to the LAN."""
    lan = await asyncio.gather(*(topo.net.edge.probe(a, AI_PORT) for a in GPU_LAN.values()))
    wan = await asyncio.gather(*(topo.net.wan.probe(a, AI_PORT) for a in GPU_LAN.values()))
    print(f"\nAI API from edge: {lan}, from wan: {wan}")
    assert lan == ["open"] * len(GPU_LAN) and wan == ["dropped"] * len(GPU_LAN)


async def test_ai_api_needs_the_credential_the_api_holds(topo: Topology) -> None:
    """Issue 21 "Also": past the network, the AI API still asks for HOUSIFY_AI_API_TOKEN (02e5a16 had none);
    the API, which holds it, gets its prompt suggestions through the AI proxy."""
    async with topo.net.edge.http(
        base_url=f"http://{AI_PROXY}", verify=ssl.create_default_context(), http2=False
    ) as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/models")).status_code == 401
        wrong = await http.get("/models", headers={"Authorization": "Bearer guessed"})
        assert wrong.status_code == 401
        right = await http.get("/models", headers={"Authorization": f"Bearer {topo.ai_api_token}"})
        assert right.status_code == 200


def test_a_gpu_host_redis_user_holds_only_the_ai_keys(topo: Topology) -> None:
    """Issue 17: from a GPU host, over TLS, the AI workers' Redis user (the one its HOUSIFY_REDIS_URL names) may not
    read the API's token revocations nor run admin commands; the workers' own keys answer."""
    gpu = topo.net.gpus["gpu-1"]
    password = topo.redis_passwords["housify-ai"]

    def cli(*command: str) -> str:
        argv = ["redis-cli", "--no-auth-warning", "-h", EDGE_LAN, "-p", str(REDIS_PORT), "--user", "housify-ai"]
        tls = ["--tls", "--cacert", str(topo.pki.ca_cert)]
        done = gpu.sh(*argv, *tls, "--pass", password, *command, check=False)
        return (done.stdout + done.stderr).strip()

    assert cli("PING") == "PONG"  # over TLS, the edge's certificate checked against the test CA
    assert "NOPERM" not in cli("HGETALL", "housify:ai:levels")
    for refused in (("GET", "housify:revoked:jti:x"), ("FLUSHALL",), ("CONFIG", "GET", "*"), ("KEYS", "*")):
        assert "NOPERM" in cli(*refused), refused
