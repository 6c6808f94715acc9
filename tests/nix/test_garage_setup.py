"""``nixos/modules/garage-setup.py`` (the unit that makes Housify's Garage bucket and key) against a fake admin API.

Garage itself cannot be installed here (no package registry carries it); the
fake implements the few admin API v2 calls the script makes, as Garage 2.x
documents them, with the state they change, so the checks are about the
script's behaviour: waiting for the API, staging the node's role, applying
the layout once, creating the bucket and importing the key from credential
files, idempotence, and failing loudly.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from testkit import free_port

from .conftest import REPO

SCRIPT = REPO / "nixos" / "modules" / "garage-setup.py"
TOKEN = "admin-token-for-tests"
KEY_ID = "GK31c2f218a2e44f485b94239e"
SECRET = "b892c0665f0ada8a4755dae98baa3b133590e11dae3bcc1f9d769d67f16c3835"


class FakeGarage(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, node_id: str = "a1" * 32) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.node_id = node_id
        self.version = 0
        self.roles: list[dict] = []
        self.staged: list[dict] = []
        self.buckets: dict[str, dict] = {}
        self.keys: dict[str, dict] = {}
        self.calls: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Handler(http.server.BaseHTTPRequestHandler):
    server: FakeGarage

    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_call(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        endpoint = url.path.removeprefix("/v2/")
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        g = self.server
        g.calls.append(f"{method} {endpoint}")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.reply(403, {"code": "AccessDenied", "message": "Forbidden: Invalid token"})
        if endpoint == "GetClusterHealth":
            return self.reply(200, {"status": "healthy" if g.roles else "unavailable"})
        if endpoint == "GetNodeInfo" and query.get("node") == "self":
            return self.reply(
                200, {"success": {g.node_id: {"nodeId": g.node_id, "garageVersion": "v2.0.0"}}, "error": {}}
            )
        if endpoint == "GetClusterLayout":
            return self.reply(
                200,
                {
                    "version": g.version,
                    "roles": g.roles,
                    "stagedRoleChanges": g.staged,
                    "parameters": {},
                    "partitionSize": 1,
                },
            )
        if endpoint == "UpdateClusterLayout":
            g.staged.extend(body["roles"])
            return self.reply(200, {})
        if endpoint == "ApplyClusterLayout":
            if body["version"] != g.version + 1:
                return self.reply(400, {"message": "wrong version"})
            g.roles, g.staged, g.version = g.roles + g.staged, [], g.version + 1
            return self.reply(200, {"message": ["ok"]})
        if endpoint == "GetBucketInfo":
            bucket = g.buckets.get(query.get("globalAlias", ""))
            return self.reply(200, bucket) if bucket else self.reply(404, {"code": "NoSuchBucket"})
        if endpoint == "CreateBucket":
            g.buckets[body["globalAlias"]] = {
                "id": f"b-{len(g.buckets)}",
                "globalAliases": [body["globalAlias"]],
                "keys": [],
            }
            return self.reply(200, g.buckets[body["globalAlias"]])
        if endpoint == "GetKeyInfo":
            key = g.keys.get(query.get("id", ""))
            return self.reply(200, key) if key else self.reply(404, {"code": "NoSuchAccessKey"})
        if endpoint == "ImportKey":
            g.keys[body["accessKeyId"]] = dict(body)
            return self.reply(200, body)
        if endpoint == "AllowBucketKey":
            bucket = next(b for b in g.buckets.values() if b["id"] == body["bucketId"])
            bucket["keys"] = [{"accessKeyId": body["accessKeyId"], "permissions": body["permissions"]}]
            return self.reply(200, bucket)
        return self.reply(404, {"message": f"unknown endpoint {endpoint}"})

    def do_GET(self) -> None:  # noqa: N802
        self.handle_call("GET")

    def do_POST(self) -> None:  # noqa: N802
        self.handle_call("POST")


def run(
    port: int, tmp_path: Path, *, manage: bool = True, token: str = TOKEN, wait: int = 30, expected: int = 1
) -> subprocess.CompletedProcess:
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "key-id").write_text(KEY_ID + "\n")
    (tmp_path / "secret").write_text(SECRET + "\n")
    env = {
        "GARAGE_ADMIN_URL": f"http://127.0.0.1:{port}",
        "GARAGE_ADMIN_TOKEN_FILE": str(tmp_path / "token"),
        "GARAGE_ZONE": "edge",
        "GARAGE_CAPACITY": str(100 * 10**9),
        "GARAGE_MANAGE": "1" if manage else "0",
        "GARAGE_EXPECTED_NODES": str(expected),
        "GARAGE_BUCKET": "housify",
        "GARAGE_KEY_NAME": "housify",
        "GARAGE_KEY_ID_FILE": str(tmp_path / "key-id"),
        "GARAGE_SECRET_KEY_FILE": str(tmp_path / "secret"),
        "GARAGE_WAIT_SECONDS": str(wait),
    }
    return subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def test_first_run_lays_out_the_node_and_makes_bucket_and_key_then_changes_nothing(tmp_path: Path) -> None:
    garage = FakeGarage(free_port())
    first = run(garage.server_address[1], tmp_path)
    assert first.returncode == 0, first.stderr
    assert garage.version == 1
    assert garage.roles == [{"id": garage.node_id, "zone": "edge", "capacity": 100 * 10**9, "tags": ["housify"]}]
    assert garage.keys[KEY_ID]["secretAccessKey"] == SECRET  # read from the credential file, newline stripped
    assert garage.buckets["housify"]["keys"] == [
        {"accessKeyId": KEY_ID, "permissions": {"read": True, "write": True, "owner": False}}
    ]
    assert SECRET not in first.stderr  # the secret is never logged
    calls = len(garage.calls)
    again = run(garage.server_address[1], tmp_path)
    assert again.returncode == 0, again.stderr
    new = garage.calls[calls:]
    assert not any(
        call in new
        for call in ("POST UpdateClusterLayout", "POST ApplyClusterLayout", "POST CreateBucket", "POST ImportKey")
    )
    assert garage.version == 1


def test_waits_for_the_admin_api_with_back_off(tmp_path: Path) -> None:
    port = free_port()
    holder: list[FakeGarage] = []
    threading.Timer(2.5, lambda: holder.append(FakeGarage(port))).start()
    started = time.monotonic()
    result = run(port, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "waiting for the Garage admin API" in result.stderr
    assert time.monotonic() - started >= 2.5
    assert holder[0].buckets["housify"]


def test_a_node_that_does_not_manage_only_stages_its_role(tmp_path: Path) -> None:
    garage = FakeGarage(free_port(), node_id="b2" * 32)
    result = run(garage.server_address[1], tmp_path, manage=False)
    assert result.returncode == 0, result.stderr
    assert [c["id"] for c in garage.staged] == [garage.node_id] and garage.version == 0
    assert not garage.buckets and not garage.keys


def test_the_manager_applies_what_is_staged_when_the_other_nodes_do_not_come(tmp_path: Path) -> None:
    garage = FakeGarage(free_port())
    result = run(garage.server_address[1], tmp_path, expected=3, wait=3)
    assert result.returncode == 0, result.stderr
    assert "gave up waiting for 3 Garage nodes" in result.stderr and garage.version == 1


@pytest.mark.parametrize("token", ["wrong-token"])
def test_a_refused_call_fails_the_unit_with_the_reason(tmp_path: Path, token: str) -> None:
    garage = FakeGarage(free_port())
    result = run(garage.server_address[1], tmp_path, token=token, wait=2)
    assert result.returncode == 1
    assert "HTTP 403" in result.stderr and "gave up waiting for the Garage admin API" in result.stderr
