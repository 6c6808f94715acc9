"""The NixOS modules and hosts evaluated against nixpkgs' lib (stand-ins for upstream options).

Configurations live in ``nixos/tests/eval/cases.nix`` (shared with the flake's
``modules-eval`` check); these tests add what the check cannot: the error
message of each bad case and the shape of what the good ones produce.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from .conftest import REPO, case_expr, eval_json, harness_expr, lib_expr, nix_instantiate_path, nixpkgs_lib_path


@cache
def bad_cases() -> dict[str, str]:
    """``{case name: expected error substring}``; empty when nix or lib is missing (tests then skip)."""
    lib = nixpkgs_lib_path()
    if lib is None or nix_instantiate_path() is None:
        return {}
    expr = f"builtins.mapAttrs (_: c: c.error) (import {REPO}/nixos/tests/eval/cases.nix {{ lib = {lib_expr(lib)}; }}).bad"
    return eval_json(expr).json()


def bad_params() -> list:
    cases = bad_cases()
    if not cases:
        return [pytest.param(None, id="no-cases", marks=pytest.mark.skip(reason="needs nix-instantiate and HOUSIFY_NIXPKGS_LIB"))]
    return list(cases)


def evaluate_case(lib: Path, name: str) -> dict:
    return eval_json(harness_expr(lib, configuration=case_expr(lib, "good", name))).json()


@pytest.fixture(scope="module")
def good(nixpkgs_lib: Path):
    """Evaluated good cases, each evaluated once per module."""
    results: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in results:
            results[name] = evaluate_case(nixpkgs_lib, name)
        return results[name]

    return get


def instance_units(cfg: dict) -> dict[str, dict]:
    return {name: unit for name, unit in cfg["units"].items() if re.fullmatch(r"housify-api-\d+", name)}


# --- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", bad_params())
def test_bad_configuration_fails_with_its_message(nixpkgs_lib: Path, name: str) -> None:
    result = eval_json(harness_expr(nixpkgs_lib, configuration=case_expr(nixpkgs_lib, "bad", name)))
    assert result.returncode != 0, f"{name} evaluated: {result.stdout[:300]}"
    assert bad_cases()[name] in result.stderr, result.stderr[-2000:]


def test_failed_assertions_are_all_reported(nixpkgs_lib: Path) -> None:
    base = case_expr(nixpkgs_lib, "good", "edge-with-local-ai")
    broken = (
        f"{{ imports = [ {base} ]; services.housify-ai.device = \"cuda\"; "
        f"services.openssh.openFirewall = true; }}"
    )
    result = eval_json(harness_expr(nixpkgs_lib, configuration=broken))
    assert result.returncode != 0
    assert "Failed assertions:" in result.stderr
    assert "gpu.enable" in result.stderr and "openFirewall must be false" in result.stderr


# --- API ----------------------------------------------------------------------------------


def test_api_instances_listen_on_consecutive_ports_behind_least_conn(good) -> None:
    cfg = good("three-instances")
    units = instance_units(cfg)
    assert sorted(units) == ["housify-api-0", "housify-api-1", "housify-api-2"]
    commands = sorted(unit["serviceConfig"]["ExecStart"].split("--port ")[1] for unit in units.values())
    assert commands == ["8100", "8101", "8102"]
    upstream = cfg["nginx"]["upstreams"]["housify_api"]
    assert sorted(upstream["servers"]) == ["127.0.0.1:8100", "127.0.0.1:8101", "127.0.0.1:8102"]
    assert "least_conn;" in upstream["extraConfig"]
    consumers = {unit["environment"]["HOUSIFY_MEDIA_CONSUMER_NAME"] for unit in units.values()}
    assert consumers == {"nixos-housify-api-0", "nixos-housify-api-1", "nixos-housify-api-2"}


def test_migrations_run_before_every_service(good) -> None:
    cfg = good("edge-with-local-ai")
    units = cfg["units"]
    for service, migrate in (("housify-api", "housify-api-migrate"), ("housify-soap", "housify-soap-migrate"), ("housify-ai", "housify-ai-migrate")):
        assert units[migrate]["serviceConfig"]["Type"] == "oneshot"
        assert units[migrate]["serviceConfig"]["ExecStart"].endswith(" migrate")
        assert "postgresql.service" in units[migrate]["after"]
        dependants = [name for name in units if name.startswith(service) and name != migrate and "migrate" not in name and "models" not in name]
        assert dependants, service
        for name in dependants:
            assert f"{migrate}.service" in units[name]["after"], name
            assert f"{migrate}.service" in units[name]["requires"], name


def test_every_unit_is_hardened(good) -> None:
    units = good("gpu")["units"] | good("edge-with-local-ai")["units"]
    for name, unit in units.items():
        sc = unit["serviceConfig"]
        assert sc["ProtectSystem"] == "strict", name
        assert sc["PrivateTmp"] is True and sc["NoNewPrivileges"] is True, name
        assert sc["CapabilityBoundingSet"] == "" and sc["AmbientCapabilities"] == "", name
        assert sc.get("DynamicUser") is True or sc.get("User"), name
        if name.startswith("housify-api") or name.startswith("housify-ai") or name.startswith("housify-soap"):
            assert sc.get("StateDirectory"), name


def test_secrets_reach_units_only_as_credentials(good) -> None:
    cfg = good("lan-exposed")
    api = cfg["units"]["housify-api-0"]
    env, sc = api["environment"], api["serviceConfig"]
    assert env["HOUSIFY_JWT_PRIVATE_KEY_FILE"] == "%d/jwt-private-key"
    assert env["HOUSIFY_REDIS_URL_FILE"] == "%d/redis-url"
    assert "HOUSIFY_REDIS_URL" not in env
    assert "jwt-private-key:/run/secrets/housify/jwt-private.pem" in sc["LoadCredential"]
    assert "redis-url:/run/secrets/housify/redis-url" in sc["LoadCredential"]
    for unit in cfg["units"].values():
        for key, value in unit["environment"].items():
            assert "/run/secrets" not in value, f"{key}={value} leaks a secret path into the environment"


def settings_fields(*paths: str) -> set[str]:
    """Field names of the msgspec settings Structs in ``paths`` (class bodies, 4-space indent)."""
    text = "\n".join((REPO / path).read_text() for path in paths)
    return set(re.findall(r"^    (\w+): ", text, re.MULTILINE))


@pytest.mark.parametrize(
    ("unit", "settings"),
    [
        ("housify-api-0", ["src/housify_api/settings.py", "src/housify_api/media/settings.py"]),
        ("housify-ai-worker-0", ["src/housify_ai/settings.py"]),
        ("housify-soap", ["src/housify_soap/settings.py"]),
    ],
)
def test_unit_environment_names_match_the_settings(good, unit: str, settings: list[str]) -> None:
    """Every HOUSIFY_* variable a unit gets is a settings field (or HOUSIFY_DATA_DIR, read by housify_common.db)."""
    env = good("edge-with-local-ai")["units"][unit]["environment"]
    fields = settings_fields(*settings) | {"data_dir"}
    for key in env:
        if key.startswith("HOUSIFY_"):
            field = key.removeprefix("HOUSIFY_").removesuffix("_FILE").lower()
            assert field in fields, f"{unit}: {key} names no settings field ({settings})"


# --- nginx --------------------------------------------------------------------------------


def test_nginx_tls_http3_websockets_and_accel(good) -> None:
    nginx = good("edge-with-local-ai")["nginx"]
    assert nginx["package"].endswith("-nginxQuic")
    assert nginx["sslProtocols"].split()[0] == "TLSv1.3"
    assert nginx["clientMaxBodySize"] == "1000M"
    vhost = nginx["virtualHosts"]["housify.example.com"]
    assert vhost["forceSSL"] and vhost["enableACME"] and vhost["http2"] and vhost["http3"] and vhost["quic"]
    assert 'Strict-Transport-Security "max-age=63072000' in vhost["extraConfig"]
    events = vhost["locations"]["~ ^/jobs/[^/]+/events$"]
    assert events["proxyWebsockets"] is True and events["proxyPass"] == "http://housify_api"
    accel = vhost["locations"]["/_storage/"]
    assert accel["alias"] == "/var/lib/housify/storage/"
    assert "internal;" in accel["extraConfig"]
    metrics = vhost["locations"]["= /metrics"]["extraConfig"]
    assert "allow 10.0.1.0/24;" in metrics and metrics.rstrip().endswith("deny all;")
    internal = nginx["virtualHosts"]["housify-ai-internal"]
    assert internal["listen"] == [{"addr": "127.0.0.1", "port": 8280, "ssl": False}]
    assert internal["locations"]["/"]["proxyPass"] == "http://housify_ai"
    assert sorted(nginx["upstreams"]["housify_ai"]["servers"]) == ["127.0.0.1:8200"]


# --- firewall, PostgreSQL, Redis ----------------------------------------------------------------


def test_firewall_opens_web_to_all_and_internal_ports_to_the_lan_only(good) -> None:
    cfg = good("lan-exposed")
    fw = cfg["firewall"]
    assert cfg["nftables"] is True and cfg["sshOpenFirewall"] is False
    assert fw["allowedTCPPorts"] == [80, 443] and fw["allowedUDPPorts"] == [443]
    rules = fw["extraInputRules"].splitlines()
    assert 'iifname "lan0" ip saddr { 10.0.99.0/24 } tcp dport 22 accept' in rules
    assert 'iifname "lan0" ip saddr { 10.0.1.0/24 } tcp dport { 5432, 6379, 2049 } accept' in rules
    assert 'iifname "lan0" ip saddr { 10.0.1.11/32 } tcp dport 8300 accept' in rules
    assert 'iifname "lan0" ip6 saddr { fd00:1::11/128 } tcp dport 8300 accept' in rules
    assert all(rule.startswith('iifname "lan0" ') for rule in rules)


def test_postgresql_databases_roles_and_access(good) -> None:
    local = good("edge-with-local-ai")["postgresql"]
    dbs = ["housify", "housify_ai", "housify_soap"]
    assert local["ensureDatabases"] == dbs
    assert local["ensureUsers"] == [{"name": db, "ensureDBOwnership": True} for db in dbs]
    assert "housify housify-soap housify_soap" in local["identMap"]
    assert "host " not in local["authentication"]
    assert local["settings"]["listen_addresses"] == "localhost"  # nixpkgs' default, untouched
    remote = good("lan-exposed")["postgresql"]
    assert "host housify_ai housify_ai 10.0.1.0/24 scram-sha-256" in remote["authentication"]
    assert remote["settings"]["listen_addresses"] == "localhost,10.0.1.10"


def test_redis_socket_only_unless_on_the_lan(good) -> None:
    local = good("edge-with-local-ai")["redis"]["servers"]["housify"]
    assert local["port"] == 0 and local["requirePassFile"] is None
    lan = good("lan-exposed")["redis"]["servers"]["housify"]
    assert lan["port"] == 6379 and lan["bind"] == "127.0.0.1 10.0.1.10"
    assert lan["requirePassFile"] == "/run/secrets/housify/redis-password"
    assert lan["settings"]["maxmemory-policy"] == "noeviction"


# --- AI / GPU -----------------------------------------------------------------------------


def test_gpu_hosts_get_the_driver_cuda_and_device_access(good) -> None:
    cpu, gpu = good("edge-with-local-ai"), good("gpu")
    assert cpu["gpu"] == {"cudaSupport": False, "graphics": False, "videoDrivers": [], "nvidiaOpen": None, "allowUnfree": False}
    assert gpu["gpu"] == {"cudaSupport": True, "graphics": True, "videoDrivers": ["nvidia"], "nvidiaOpen": True, "allowUnfree": True}
    workers = [name for name in gpu["units"] if name.startswith("housify-ai-worker-")]
    assert sorted(workers) == ["housify-ai-worker-0", "housify-ai-worker-1"]
    sc = gpu["units"]["housify-ai-worker-0"]["serviceConfig"]
    assert sc["PrivateDevices"] is False and "char-nvidia-uvm rw" in sc["DeviceAllow"]
    assert gpu["units"]["housify-ai-worker-0"]["environment"]["HOUSIFY_AI_DEVICE"] == "cuda"
    assert cpu["units"]["housify-ai-worker-0"]["serviceConfig"]["PrivateDevices"] is True


# --- hosts and packaging ------------------------------------------------------------------


@pytest.mark.parametrize("host", ["edge", "gpu"])
def test_host_configuration_evaluates(nixpkgs_lib: Path, host: str) -> None:
    cfg = eval_json(harness_expr(nixpkgs_lib, modules=f"[ {REPO}/nixos/hosts/{host} ]")).json()
    if host == "edge":
        assert len(instance_units(cfg)) == 4
        assert cfg["nfs"]["enable"] is True and "housify-soap" in cfg["units"]
        assert not any(name.startswith("housify-ai") for name in cfg["units"])
        # Redis with a password: the URL comes from a file, the socket through the group.
        assert cfg["users"]["housify"]["extraGroups"] == ["redis-housify"]
        assert cfg["users"]["nginx"]["extraGroups"] == ["housify"]  # X-Accel-Redirect reads storage
    else:
        assert cfg["gpu"]["cudaSupport"] is True
        assert cfg["firewall"]["allowedTCPPorts"] == []  # nothing from the WAN
        assert set(cfg["units"]) == {"housify-ai-api", "housify-ai-migrate", "housify-ai-worker-0"}


def test_vm_test_nodes_pass_every_assertion(nixpkgs_lib: Path) -> None:
    """nixos/tests/vm.nix's edge and AI nodes evaluate (the VM test itself needs nixpkgs to run)."""
    expr = f"import {REPO}/nixos/tests/eval/vm-nodes.nix {{ lib = {lib_expr(nixpkgs_lib)}; }}"
    nodes = eval_json(expr).json()
    edge, ai = nodes["edge"], nodes["ai"]
    assert {"housify-api-0", "housify-api-1", "housify-soap", "housify-postgresql-passwords"} <= set(edge["units"])
    assert edge["nginx"]["virtualHosts"]["housify.test"]["enableACME"] is False
    assert {"housify-ai-models", "housify-ai-worker-0", "housify-ai-api"} <= set(ai["units"])
    worker = ai["units"]["housify-ai-worker-0"]
    assert "housify-ai-models.service" in worker["requires"]
    assert worker["environment"]["HOUSIFY_AI_LLM_MODEL"] == "/var/lib/housify-ai/models/tiny-llama.gguf"
    assert 'tcp dport { 8200 } accept' in ai["firewall"]["extraInputRules"]
