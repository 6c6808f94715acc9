"""The NixOS modules and hosts evaluated against nixpkgs' lib (stand-ins for upstream options).

Configurations live in ``nixos/tests/eval/cases.nix`` (shared with the flake's
``modules-eval`` check); these tests add what the check cannot: the error
message of each bad case and the shape of what the good ones produce.
"""

from __future__ import annotations

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
    expr = (
        f"builtins.mapAttrs (_: c: c.error) (import {REPO}/nixos/tests/eval/cases.nix {{ lib = {lib_expr(lib)}; }}).bad"
    )
    return eval_json(expr).json()


def bad_params() -> list:
    cases = bad_cases()
    if not cases:
        return [
            pytest.param(
                None, id="no-cases", marks=pytest.mark.skip(reason="needs nix-instantiate and HOUSIFY_NIXPKGS_LIB")
            )
        ]
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
    broken = f'{{ imports = [ {base} ]; services.housify-ai.device = "cuda"; services.openssh.openFirewall = true; }}'
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
    upstream = re.search(r"upstream housify_api \{(.*?)\}", cfg["nginxText"], re.S).group(1)
    assert "least_conn;" in upstream
    assert re.findall(r"server (\S+) ", upstream) == ["127.0.0.1:8100", "127.0.0.1:8101", "127.0.0.1:8102"]
    consumers = {unit["environment"]["HOUSIFY_MEDIA_CONSUMER_NAME"] for unit in units.values()}
    assert consumers == {"nixos-housify-api-0", "nixos-housify-api-1", "nixos-housify-api-2"}


def test_migrations_run_before_every_service(good) -> None:
    """Ordered after postgresql.target (nixos-25.11), retried with bounded back-off, required by the services."""
    cfg = good("edge-with-local-ai")
    units = cfg["units"]
    for service, migrate in (
        ("housify-api", "housify-api-migrate"),
        ("housify-soap", "housify-soap-migrate"),
        ("housify-ai", "housify-ai-migrate"),
    ):
        sc = units[migrate]["serviceConfig"]
        assert sc["Type"] == "oneshot"
        assert re.fullmatch(r"\S+/bin/bash /nix/store/\w{32}-retry\.sh \S+ migrate", sc["ExecStart"]), sc["ExecStart"]
        env = units[migrate]["environment"]
        assert (env["RETRY_ATTEMPTS"], env["RETRY_DELAY"], env["RETRY_MAX_DELAY"]) == ("12", "2", "60")
        assert sc["TimeoutStartSec"] == "15min"
        assert "postgresql.target" in units[migrate]["after"] and "postgresql.target" in units[migrate]["requires"]
        assert not any(u.startswith("postgresql.service") for u in units[migrate]["after"])
        dependants = [
            name
            for name in units
            if name.startswith(service) and name != migrate and "migrate" not in name and "models" not in name
        ]
        assert dependants, service
        for name in dependants:
            assert f"{migrate}.service" in units[name]["after"], name
            assert f"{migrate}.service" in units[name]["requires"], name
    assert (
        "postgresql.target" in units["housify-postgresql-passwords"]["after"]
        if "housify-postgresql-passwords" in units
        else True
    )


def test_every_unit_is_hardened(good) -> None:
    units = good("gpu")["units"] | good("edge-with-local-ai")["units"]
    for name, unit in units.items():
        sc = unit["serviceConfig"]
        assert sc["ProtectSystem"] == "strict", name
        assert sc["PrivateTmp"] is True and sc["NoNewPrivileges"] is True, name
        assert sc["CapabilityBoundingSet"] == "" and sc["AmbientCapabilities"] == "", name
        assert sc.get("DynamicUser") is True or sc.get("User"), name
        if name.startswith(("housify-api", "housify-ai", "housify-soap")):
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


def settings_variables(*classes: str) -> set[str]:
    """The ``HOUSIFY_*`` variables the settings Structs read (nested groups included), by dotted class path."""
    import importlib

    import msgspec

    from housify_common.settings import env_name

    def walk(cls) -> set[str]:
        names = set()
        for field in msgspec.structs.fields(cls):
            if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
                names |= walk(field.type)
            else:
                names.add(env_name(field.encode_name))
        return names

    found: set[str] = set()
    for path in classes:
        module, _, name = path.rpartition(".")
        found |= walk(getattr(importlib.import_module(module), name))
    return found


STORAGE = "housify_common.storage.StorageSettings"


@pytest.mark.parametrize(
    ("case", "unit", "classes"),
    [
        ("edge-with-local-ai", "housify-api-0", ["housify_api.settings.ApiSettings"]),
        ("s3", "housify-api-0", ["housify_api.settings.ApiSettings"]),
        ("edge-with-local-ai", "housify-ai-worker-0", ["housify_ai.settings.AISettings", STORAGE]),
        ("s3", "housify-ai-worker-0", ["housify_ai.settings.AISettings", STORAGE]),
        ("edge-with-local-ai", "housify-soap", ["housify_soap.settings.SoapSettings"]),
    ],
)
def test_unit_environment_names_match_the_settings(good, case: str, unit: str, classes: list[str]) -> None:
    """Every HOUSIFY_* variable a unit gets is read by its settings (``_FILE`` variants included)."""
    env = good(case)["units"][unit]["environment"]
    known = settings_variables(*classes) | {"HOUSIFY_DATA_DIR"}
    for key in env:
        if key.startswith("HOUSIFY_"):
            assert key.removesuffix("_FILE") in known, f"{unit}: {key} names no settings field of {classes}"


# --- nginx --------------------------------------------------------------------------------


def test_nginx_gets_the_rendered_text_with_quic_on_the_default_package(good) -> None:
    cfg = good("edge-with-local-ai")
    nginx, text = cfg["nginx"], cfg["nginxText"]
    assert nginx["package"].endswith("-nginx")  # nixpkgs' default nginx: QUIC built in, no nginxQuic
    assert nginx["virtualHosts"] == {}  # everything comes from render-nginx.nix
    assert re.findall(r"listen (\S+) quic reuseport default_server;", text) == ["0.0.0.0:443", "[::]:443"]
    assert "http2 on;" in text and "http3 on;" in text
    assert "ssl_certificate /var/lib/acme/housify.example.com/fullchain.pem;" in text
    assert "root /var/lib/acme/acme-challenge;" in text
    assert "client_max_body_size 1000M;" in text
    assert "location /_media/ {" in text and "alias /var/lib/housify/storage/;" in text and "_media_s3" not in text
    assert re.search(r"location ~ \^/jobs/\[\^/\]\+/events\$ \{[^}]*Upgrade \$http_upgrade", text)
    assert "allow 10.0.1.0/24;" in text and "allow 10.0.99.0/24;" in text
    assert "listen 127.0.0.1:8280;" in text and "server 127.0.0.1:8200 " in text
    assert cfg["units"]["housify-api-0"]["environment"]["HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX"] == "/_media/"
    # ACME: the placeholder certificate before nginx, the real order after it.
    assert "acme-housify.example.com.service" in cfg["nginxUnit"]["after"]
    assert cfg["acme"]["certs"]["housify.example.com"]["webroot"] == "/var/lib/acme/acme-challenge"


def test_s3_store_wires_garage_nginx_and_the_units_with_credentials_only(good) -> None:
    cfg = good("s3")
    text = cfg["nginxText"]
    assert "location /_media_s3/ {" in text and 'proxy_set_header Host "127.0.0.1:3900";' in text
    assert "location /_media/ " not in text
    api = cfg["units"]["housify-api-0"]
    assert api["environment"]["HOUSIFY_STORAGE_URL"] == "s3://housify"
    assert api["environment"]["HOUSIFY_S3_ENDPOINT_URL"] == "http://127.0.0.1:3900"
    assert api["environment"]["HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX"] == "/_media_s3/"
    assert api["environment"]["HOUSIFY_S3_SECRET_ACCESS_KEY_FILE"] == "%d/s3-secret-access-key"
    assert "s3-secret-access-key:/run/secrets/housify/s3-secret-access-key" in api["serviceConfig"]["LoadCredential"]
    assert "HOUSIFY_STORAGE_DIR" not in api["environment"] and "ReadWritePaths" not in api["serviceConfig"]
    worker = cfg["units"]["housify-ai-worker-0"]
    assert worker["environment"]["HOUSIFY_STORAGE_URL"] == "s3://housify"
    assert cfg["users"]["nginx"]["extraGroups"] == []  # no directory store to read
    garage = cfg["garage"]
    assert garage["enable"] and garage["settings"]["replication_factor"] == 1
    assert garage["settings"]["rpc_public_addr"] == "10.0.1.10:3901"
    assert (
        "rpc_secret" not in garage["settings"]
        and garage["extraEnvironment"]["GARAGE_RPC_SECRET_FILE"] == "%d/rpc-secret"
    )
    assert cfg["garageUnit"]["serviceConfig"]["LoadCredential"] == [
        "rpc-secret:/run/secrets/housify/garage-rpc-secret",
        "admin-token:/run/secrets/housify/garage-admin-token",
    ]
    setup = cfg["units"]["housify-garage-setup"]
    assert setup["environment"]["GARAGE_MANAGE"] == "1" and setup["environment"]["GARAGE_BUCKET"] == "housify"
    assert "s3-secret-access-key:/run/secrets/housify/s3-secret-access-key" in setup["serviceConfig"]["LoadCredential"]
    assert setup["serviceConfig"]["ExecStart"].endswith("-garage-setup.py")
    assert "tcp dport { 3901 }" in cfg["ruleset"] or "3901" in cfg["ruleset"]


def test_garage_setup_never_blocks_a_switch_and_operators_garage_gets_the_rpc_secret(good) -> None:
    """The setup may wait minutes for peers: only its timer starts it (a switch starts the timer,
    which returns at once). The root operator's `garage` reads the RPC secret file the daemon gets
    as a credential; /etc/garage.toml names none."""
    cfg = good("s3")
    setup = cfg["units"]["housify-garage-setup"]
    assert setup["wantedBy"] == [] and setup["startAt"] == []
    timer = cfg["timers"]["housify-garage-setup"]
    assert timer["wantedBy"] == ["timers.target"]
    assert timer["timerConfig"] == {"OnActiveSec": "15s", "OnUnitActiveSec": "10min"}
    (cli,) = [p for p in cfg["systemPackages"] if p["name"] == "garage"]
    assert cli["priority"] is not None and cli["priority"] < 0  # wins over nixpkgs' plain garage
    assert "GARAGE_RPC_SECRET_FILE=${GARAGE_RPC_SECRET_FILE:-/run/secrets/housify/garage-rpc-secret}" in cli["text"]
    assert cli["text"].rstrip().endswith('-garage_2/bin/garage_2 "$@"')


def test_an_nfs_mounted_store_is_waited_for_and_never_chowned(good) -> None:
    cfg = good("gpu-nfs")
    for name in ("housify-ai-worker-0", "housify-ai-api"):
        assert cfg["units"][name]["unitConfig"]["RequiresMountsFor"] == ["/var/lib/housify/storage"], name
    assert "10-housify-ai" not in cfg["tmpfiles"]  # root_squash would refuse the chown
    local = good("edge-with-local-ai")
    assert local["tmpfiles"]["10-housify-storage"]["/var/lib/housify/storage"]["d"]["mode"] == "2770"


def test_the_web_app_package_is_served_by_nginx(good) -> None:
    """By default the overlay's housify-web: nixos/packages/web.nix itself (on stand-in npm builders)."""
    cfg = good("web")
    assert cfg["web"]["package"] == "/nix/store/00000000000000000000000000000000-housify-web"
    text = cfg["nginxText"]
    assert f"root {cfg['web']['package']};" in text
    assert 'add_header Cache-Control "public, max-age=31536000, immutable" always;' in text
    assert "root " not in good("no-web")["nginxText"].split("location /_media/")[0].replace("root /var/lib/acme", "")


def test_the_web_package_fills_one_lock_for_the_fetcher_and_the_build(good) -> None:
    """fetchNpmDeps and the build run the same postPatch (npmConfigHook compares their locks),
    which fills `resolved` from npm's configured registry: no registry host in the recipe."""
    web = good("web")["web"]
    fill = web["builderArgs"]["postPatch"]
    assert web["npmDeps"]["postPatch"] == fill
    assert "fill-npm-lock.mjs package-lock.json" in fill and "npm config get registry" in fill
    assert "registry.npmjs" not in fill and "nodejs" in str(web["npmDeps"]["nativeBuildInputs"])
    assert web["npmDeps"]["hash"].startswith("sha256-")


def test_the_modules_nginx_text_passes_nginx_t(nixpkgs_lib: Path, tmp_path: Path) -> None:
    """The very text the module feeds nginx (with Debian's nginx version and test certificates) loads."""
    import shutil
    import subprocess

    from .test_render_nginx import nginx_test, nginx_version, write_config

    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=housify.example.com",
            "-keyout",
            str(tmp_path / "k.pem"),
            "-out",
            str(tmp_path / "c.pem"),
        ],
        check=True,
        capture_output=True,
    )
    for case in ("edge-with-local-ai", "s3", "media-secret"):
        change = (
            f"{{ imports = [ {case_expr(nixpkgs_lib, 'good', case)} ]; services.housify = {{ http3 = false; "
            f'tls = {{ acme = false; certificate = "{tmp_path}/c.pem"; certificateKey = "{tmp_path}/k.pem"; }}; }}; '
            f'services.nginx.package = {{ type = "derivation"; name = "nginx"; version = "{nginx_version()}"; outPath = "/nix/store/00000000000000000000000000000000-nginx"; }}; }}'
        )
        text = eval_json(harness_expr(nixpkgs_lib, configuration=change)).json()["nginxText"]
        # run-time paths of the host (nixpkgs' nginx unit has CacheDirectory=nginx; the include is written at
        # its start from the secret) stand here in the test's folder
        (tmp_path / "media-cache").mkdir(exist_ok=True)
        secret = tmp_path / "media-secret.conf"
        secret.write_text('map $host $housify_media_secret { default "s3cr3t"; }\n')
        text = text.replace("/var/cache/nginx/housify-media", str(tmp_path / "media-cache" / case))
        text = text.replace("/run/nginx/housify-media-secret.conf", str(secret))
        result = nginx_test(write_config(tmp_path / case, text))
        assert result.returncode == 0, result.stderr


# --- firewall, PostgreSQL, Redis ----------------------------------------------------------------


def test_firewall_opens_web_to_all_and_internal_ports_to_the_lan_only(good) -> None:
    cfg = good("lan-exposed")
    fw, rules = cfg["firewall"], cfg["ruleset"]
    assert cfg["nftables"] is True and cfg["sshOpenFirewall"] is False
    assert fw["enable"] is False  # the rendered ruleset replaces networking.firewall
    assert "tcp dport { 80, 443 } accept" in rules and "udp dport { 443 } accept" in rules
    assert 'iifname "lan0" ip saddr { 10.0.99.0/24 } tcp dport 22 accept' in rules
    assert 'iifname "lan0" ip saddr { 10.0.1.0/24 } tcp dport { 5432, 6379, 2049 } accept' in rules
    assert 'iifname "lan0" ip saddr { 10.0.1.11/32 } tcp dport { 8300 } accept' in rules
    assert 'iifname "lan0" ip6 saddr { fd00:1::11/128 } tcp dport { 8300 } accept' in rules
    assert "jump wan_input" not in rules  # behind pfSense: no WAN interface on the host
    assert 'iifname "wan0" jump wan_input' in good("wan-interface")["ruleset"]
    # The LAN NIC is renamed to lan0 by its MAC.
    assert cfg["links"]["10-housify-lan"] == {
        "matchConfig": {"PermanentMACAddress": "52:54:00:00:00:10"},
        "linkConfig": {"Name": "lan0"},
    }


def test_postgresql_databases_roles_and_access(good) -> None:
    local = good("edge-with-local-ai")["postgresql"]
    dbs = ["housify", "housify_ai", "housify_soap"]
    assert local["ensureDatabases"] == dbs
    assert local["ensureUsers"] == [{"name": db, "ensureDBOwnership": True} for db in dbs]
    assert "housify housify-soap housify_soap" in local["identMap"]
    assert "host " not in local["authentication"]
    assert local["settings"]["listen_addresses"] == "localhost"  # nixpkgs' default, untouched
    remote = good("lan-exposed")["postgresql"]
    assert remote["settings"]["listen_addresses"] == "localhost,10.0.1.10"


def test_postgresql_on_the_lan_takes_tls_clients_only(good) -> None:
    """LAN clients match only hostssl lines (plain TCP finds none and is refused); the server's
    certificate and key are credentials of postgresql.service; the AI hosts verify it
    (sslmode=verify-full, assertion in housify-ai.nix)."""
    cfg = good("lan-exposed")
    remote = cfg["postgresql"]
    assert "hostssl housify_ai housify_ai 10.0.1.0/24 scram-sha-256" in remote["authentication"]
    assert "\nhost " not in "\n" + remote["authentication"]
    settings = remote["settings"]
    assert settings["ssl"] is True and settings["ssl_min_protocol_version"] == "TLSv1.2"
    assert settings["ssl_key_file"] == "/run/credentials/postgresql.service/tls-key"
    assert cfg["postgresqlUnit"]["serviceConfig"]["LoadCredential"] == [
        "tls-cert:/etc/housify/postgres.crt",
        "tls-key:/run/secrets/housify/postgres.key",
    ]
    assert "ssl" not in good("edge-with-local-ai")["postgresql"]["settings"]


def test_redis_socket_only_unless_on_the_lan(good) -> None:
    local = good("edge-with-local-ai")["redis"]["servers"]["housify"]
    assert local["port"] == 0 and local["requirePassFile"] is None
    cfg = good("lan-exposed")
    lan = cfg["redis"]["servers"]["housify"]
    # On the LAN: TLS only (no plain TCP port), the password still required.
    assert lan["port"] == 0 and lan["settings"]["tls-port"] == 6379 and lan["bind"] == "127.0.0.1 10.0.1.10"
    assert lan["settings"]["tls-key-file"] == "/run/credentials/redis-housify.service/tls-key"
    assert lan["settings"]["tls-protocols"] == "TLSv1.2 TLSv1.3"
    assert cfg["redisUnit"]["serviceConfig"]["LoadCredential"] == [
        "tls-cert:/etc/housify/redis.crt",
        "tls-key:/run/secrets/housify/redis.key",
        "redis-user-housify-ai:/run/secrets/housify/redis-ai",
        "redis-user-housify-api:/run/secrets/housify/redis-api",
        "redis-admin:/run/secrets/housify/redis-password",
    ]
    assert lan["requirePassFile"] == "/run/secrets/housify/redis-password"
    assert lan["settings"]["maxmemory-policy"] == "noeviction"
    assert "tls-port" not in local["settings"]


def test_redis_on_the_lan_has_one_acl_user_per_service(good) -> None:
    """Issue 17: a GPU host no longer holds the one password of all of Redis. The aclfile is written
    at start from the rules `housify-api redis-acl` renders at build time (housify_common.redis_acl)
    and each user's password credential; the operator's password stays on the `default` user."""
    cfg = good("lan-exposed")
    lan = cfg["redis"]["servers"]["housify"]
    assert lan["settings"]["aclfile"] == "/run/redis-housify/users.acl"
    (start,) = cfg["redisUnit"]["serviceConfig"]["ExecStartPre"]
    assert start.endswith("/bin/housify-redis-aclfile")
    local = good("edge-with-local-ai")
    assert "aclfile" not in local["redis"]["servers"]["housify"]["settings"]
    assert not local["redisUnit"]["serviceConfig"].get("ExecStartPre")


def test_other_modules_open_firewall_is_honoured_off_the_wan(good) -> None:
    """networking.firewall's ports (what other modules' openFirewall writes) open on every
    interface but the WAN; an opening on the WAN interface itself is refused with a warning."""
    cfg = good("other-modules-open-ports")
    rules = cfg["ruleset"].split("counter drop\n        }")[0]
    wan_drop = rules.index('iifname "wan0" counter drop')
    for rule in (
        "tcp dport { 9100 } accept",
        "udp dport 60000-60010 accept",
        'iifname "wg0" udp dport { 51820 } accept',
    ):
        assert rules.index(rule) > wan_drop, rule
    assert "8080" not in cfg["ruleset"]
    assert any("networking.firewall.interfaces.wan0 opens ports on the WAN" in w for w in cfg["warnings"])
    assert "9100" not in good("wan-interface")["ruleset"]


# --- AI / GPU -----------------------------------------------------------------------------


def test_gpu_hosts_get_the_driver_and_device_access_and_no_nixpkgs_config(good) -> None:
    """CUDA comes with the package (the lock's torch and nvidia-* wheels): the module writes no
    nixpkgs.config (cudaSupport would rebuild every CUDA-aware package from source, and a host
    passing its own read-only pkgs would conflict)."""
    cpu, gpu = good("edge-with-local-ai"), good("gpu")
    assert cpu["gpu"] == {
        "cudaSupport": False,
        "graphics": False,
        "videoDrivers": [],
        "nvidiaOpen": None,
        "allowUnfree": False,
    }
    assert gpu["gpu"] == {
        "cudaSupport": False,
        "graphics": True,
        "videoDrivers": ["nvidia"],
        "nvidiaOpen": True,
        "allowUnfree": False,
    }
    assert gpu["nixpkgsConfig"] == [] and cpu["nixpkgsConfig"] == []
    workers = [name for name in gpu["units"] if name.startswith("housify-ai-worker-")]
    assert sorted(workers) == ["housify-ai-worker-0", "housify-ai-worker-1"]
    sc = gpu["units"]["housify-ai-worker-0"]["serviceConfig"]
    assert sc["PrivateDevices"] is False and "char-nvidia-uvm rw" in sc["DeviceAllow"]
    assert gpu["units"]["housify-ai-worker-0"]["environment"]["HOUSIFY_AI_DEVICE"] == "cuda"
    assert cpu["units"]["housify-ai-worker-0"]["serviceConfig"]["PrivateDevices"] is True


# --- hosts and packaging ------------------------------------------------------------------


@pytest.mark.parametrize("host", ["edge", "gpu"])
def test_host_configuration_evaluates(nixpkgs_lib: Path, host: str) -> None:
    """As shipped: the LAN MAC is a placeholder, which evaluates with a warning naming it."""
    cfg = eval_json(harness_expr(nixpkgs_lib, modules=f"[ {REPO}/nixos/hosts/{host} ]")).json()
    assert cfg["links"]["10-housify-lan"]["linkConfig"] == {"Name": "lan0"}
    assert any("lanMacAddress is the example hosts' placeholder 02:00:00:00:00:00" in w for w in cfg["warnings"])
    assert cfg["garage"]["enable"] and cfg["garage"]["settings"]["replication_factor"] == 2
    if host == "edge":
        assert len(instance_units(cfg)) == 4
        assert cfg["nfs"]["enable"] is False and "housify-soap" in cfg["units"]
        assert not any(name.startswith("housify-ai") for name in cfg["units"])
        assert cfg["users"]["housify"]["extraGroups"] == ["redis-housify"]
        assert cfg["units"]["housify-api-0"]["environment"]["HOUSIFY_STORAGE_URL"] == "s3://housify"
        assert cfg["units"]["housify-garage-setup"]["environment"]["GARAGE_EXPECTED_NODES"] == "2"
        assert "location /_media_s3/ {" in cfg["nginxText"]
    else:
        assert cfg["gpu"]["cudaSupport"] is False and cfg["gpu"]["videoDrivers"] == ["nvidia"]
        # the host, not the module, allows the unfree driver
        assert cfg["nixpkgsConfig"] == ["allowUnfreePredicate"]
        assert "tcp dport { 80, 443 }" not in cfg["ruleset"]  # nothing from the WAN
        assert set(cfg["units"]) == {
            "housify-ai-api",
            "housify-ai-migrate",
            "housify-ai-worker-0",
            "housify-garage-setup",
        }
        assert cfg["units"]["housify-ai-worker-0"]["environment"]["HOUSIFY_STORAGE_URL"] == "s3://housify"


@pytest.mark.parametrize("host", ["edge", "gpu"])
def test_a_host_without_its_lan_mac_stops_with_what_to_set(nixpkgs_lib: Path, host: str) -> None:
    """No kernel names a NIC lan0: without a MAC, evaluation says what to set (and names the placeholder)."""
    unset = "{ services.housify.firewall.lanMacAddress = lib.mkForce null; }"
    expr = harness_expr(nixpkgs_lib, modules=f"[ {REPO}/nixos/hosts/{host} ({{ lib, ... }}: {unset}) ]")
    result = eval_json(expr)
    assert result.returncode != 0
    assert "set services.housify.firewall.lanMacAddress" in result.stderr
    assert "placeholder 02:00:00:00:00:00" in result.stderr


def test_vm_test_nodes_pass_every_assertion(nixpkgs_lib: Path) -> None:
    """nixos/tests/vm.nix's nodes evaluate (the VM test itself needs nixpkgs to run)."""
    expr = f"import {REPO}/nixos/tests/eval/vm-nodes.nix {{ lib = {lib_expr(nixpkgs_lib)}; }}"
    nodes = eval_json(expr).json()
    edge, ai = nodes["edge"], nodes["ai"]
    assert set(nodes) == {"edge", "ai", "wan"}
    assert {
        "housify-api-0",
        "housify-api-1",
        "housify-soap",
        "housify-postgresql-passwords",
        "housify-garage-setup",
    } <= set(edge["units"])
    assert "ssl_certificate /nix/store/" in edge["nginxText"] and "location /_media_s3/ {" in edge["nginxText"]
    # The WAN interface gets the public ports and nothing else; 3900 (S3) is internal.
    assert 'iifname "eth2" jump wan_input' in edge["ruleset"]
    assert re.search(r'iifname "eth1" ip saddr \{ 10\.0\.1\.0/24 \} tcp dport \{[^}]*3900', edge["ruleset"])
    assert {"housify-ai-models", "housify-ai-worker-0", "housify-ai-api"} <= set(ai["units"])
    worker = ai["units"]["housify-ai-worker-0"]
    assert "housify-ai-models.service" in worker["requires"]
    assert worker["environment"]["HOUSIFY_AI_LLM_MODEL"] == "/var/lib/housify-ai/models/tiny-llama.gguf"
    assert worker["environment"]["HOUSIFY_S3_ENDPOINT_URL"] == "http://10.0.1.10:3900"
    assert re.search(r"tcp dport \{ 8200 \} accept", ai["ruleset"])


def test_vm_test_script_is_python_that_checks_the_wan_drop() -> None:
    """The test script compiles, and its firewall check runs from a WAN node against a port listening there."""
    text = (REPO / "nixos" / "tests" / "vm.nix").read_text()
    script = text.split("testScript = ''", 1)[1].rsplit("'';", 1)[0]
    script = re.sub(r"\$\{[^}]+\}", "X", script.replace("''$", "$"))
    import textwrap

    compile(textwrap.dedent(script), "vm.nix testScript", "exec")
    assert "wan.execute" in script and "nft flush ruleset" in script and "== 28" in script


def test_btcpay_store_is_off_by_default_and_passes_secrets_as_credentials(good) -> None:
    """docs/billing.md "Deploying with BTCPay Server": URL and store id in the environment, the API key
    and webhook secret only as systemd credentials; without ``btcpay.enable`` none of them."""
    api = good("btcpay")["units"]["housify-api-0"]
    env = api["environment"]
    assert env["HOUSIFY_BTCPAY_URL"] == "https://pay.example.com"
    assert env["HOUSIFY_BTCPAY_STORE_ID"] == "9CiNzKoANXxmk5ayZngSXrHTiVvvgCrwrpFQd4m2K776"
    assert env["HOUSIFY_BTCPAY_API_KEY_FILE"] == "%d/btcpay-api-key"
    assert env["HOUSIFY_BTCPAY_WEBHOOK_SECRET_FILE"] == "%d/btcpay-webhook-secret"
    assert "btcpay-api-key:/run/secrets/housify/btcpay-api-key" in api["serviceConfig"]["LoadCredential"]
    assert not any(
        key.startswith("HOUSIFY_BTCPAY") for key in good("edge-with-local-ai")["units"]["housify-api-0"]["environment"]
    )


def test_signed_picture_urls_are_checked_by_nginx_when_the_secret_is_set(good) -> None:
    """With ``mediaUrlSecretFile``: the API reads it as a credential, nginx writes its ``map`` line from its own
    credential before the config is parsed, and the directory store's signed location is rendered; without it
    the signed URLs go to the API (no secure_link location), and an S3 store gets nginx's public-picture cache."""
    cfg = good("media-secret")
    api = cfg["units"]["housify-api-0"]
    assert api["environment"]["HOUSIFY_MEDIA_URL_SECRET_FILE"] == "%d/media-url-secret"
    assert "media-url-secret:/run/secrets/housify/media-url-secret" in api["serviceConfig"]["LoadCredential"]
    nginx = cfg["nginxUnit"]["serviceConfig"]
    assert nginx["LoadCredential"] == ["media-url-secret:/run/secrets/housify/media-url-secret"]
    assert nginx["ExecStartPre"][0].endswith("/bin/housify-media-secret")
    text = cfg["nginxText"]
    assert "include /run/nginx/housify-media-secret.conf;" in text and "secure_link_md5" in text
    plain = good("edge-with-local-ai")
    assert (
        "secure_link" not in plain["nginxText"]
        and "HOUSIFY_MEDIA_URL_SECRET_FILE" not in (plain["units"]["housify-api-0"]["environment"])
    )
    s3 = good("s3")
    assert s3["units"]["housify-api-0"]["environment"]["HOUSIFY_MEDIA_S3_URL_PREFIX"] == "/media/s3/"
    assert "proxy_cache_path /var/cache/nginx/housify-media" in s3["nginxText"]


def test_the_ai_api_token_reaches_both_sides_as_a_credential(good) -> None:
    cfg = good("media-secret")
    api, ai = cfg["units"]["housify-api-0"], cfg["units"]["housify-ai-api"]
    for unit in (api, ai):
        assert unit["environment"]["HOUSIFY_AI_API_TOKEN_FILE"] == "%d/ai-api-token"
        assert "ai-api-token:/run/secrets/housify/ai-api-token" in unit["serviceConfig"]["LoadCredential"]
    assert "HOUSIFY_AI_API_TOKEN_FILE" not in good("edge-with-local-ai")["units"]["housify-ai-api"]["environment"]
