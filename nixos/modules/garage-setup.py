"""Bring a Garage node into the cluster layout and, on the managing node, create Housify's bucket and key.

Run by ``housify-garage-setup.service`` (nixos/modules/housify-garage.nix)
against the node's own admin API (Garage admin API v2, Garage >= 2.0:
https://garagehq.deuxfleurs.fr/documentation/reference-manual/admin-api/).
Idempotent; every step first reads what is there. Standard library only.

Environment:
  GARAGE_ADMIN_URL        admin API of this node, e.g. http://127.0.0.1:3903
  GARAGE_ADMIN_TOKEN_FILE file with the admin token (a systemd credential)
  GARAGE_ZONE             this node's zone (its host name by default)
  GARAGE_CAPACITY         bytes this node stores, or empty for a gateway node
  GARAGE_MANAGE           "1" on the one node that applies the layout and makes the bucket
  GARAGE_EXPECTED_NODES   nodes the managing node waits for (bounded) before applying
  GARAGE_BUCKET           the bucket's global alias
  GARAGE_KEY_NAME         name given to the imported key
  GARAGE_KEY_ID_FILE, GARAGE_SECRET_KEY_FILE  the S3 key Housify uses (systemd credentials)
  GARAGE_WAIT_SECONDS     bound of every wait (default 600)

Exit status 0 when done; 1 with a log line naming what failed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def log(message: str) -> None:
    print(f"housify-garage-setup: {message}", file=sys.stderr, flush=True)


class Admin:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, endpoint: str, body: object = None, **query: str) -> tuple[int, object]:
        """``(status, decoded JSON or None)``; raises OSError when the API does not answer."""
        url = f"{self.url}/v2/{endpoint}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read()
                return response.status, json.loads(payload) if payload else None
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            try:
                return exc.code, json.loads(payload) if payload else None
            except ValueError:
                return exc.code, payload.decode(errors="replace")

    def ok(self, method: str, endpoint: str, body: object = None, **query: str) -> object:
        status, payload = self.call(method, endpoint, body, **query)
        if status != 200:
            raise RuntimeError(f"{method} {endpoint}: HTTP {status}: {payload}")
        return payload


def wait(what: str, probe, bound: float) -> object:
    """Call ``probe`` until it returns a truthy value, backing off 1 s -> 15 s, at most ``bound`` seconds."""
    deadline = time.monotonic() + bound
    delay = 1.0
    while True:
        try:
            result = probe()
            if result:
                return result
            reason = "not yet"
        except (OSError, RuntimeError) as exc:
            reason = str(exc)
        if time.monotonic() + delay > deadline:
            raise RuntimeError(f"gave up waiting for {what} after {bound:.0f} s ({reason})")
        log(f"waiting for {what} ({reason}); next try in {delay:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 15.0)


def stage_own_role(admin: Admin, zone: str, capacity: int | None) -> str:
    """Stage this node's role unless the layout (current or staged) has one; returns the node id."""
    info = admin.ok("GET", "GetNodeInfo", node="self")
    node_id = next(iter(info["success"].values()))["nodeId"]
    layout = admin.ok("GET", "GetClusterLayout")
    known = {role["id"] for role in layout["roles"]} | {change["id"] for change in layout["stagedRoleChanges"]}
    if node_id in known:
        log(f"node {node_id[:16]} already has a role")
        return node_id
    admin.ok(
        "POST",
        "UpdateClusterLayout",
        {"roles": [{"id": node_id, "zone": zone, "capacity": capacity, "tags": ["housify"]}]},
    )
    log(f"staged node {node_id[:16]}: zone {zone}, capacity {capacity if capacity is not None else 'gateway'}")
    return node_id


def apply_layout(admin: Admin, expected: int, bound: float) -> None:
    """Wait (bounded) until `expected` nodes have a role, then apply staged changes, if any."""

    def enough() -> bool:
        layout = admin.ok("GET", "GetClusterLayout")
        ids = {r["id"] for r in layout["roles"]} | {c["id"] for c in layout["stagedRoleChanges"] if not c.get("remove")}
        return len(ids) >= expected

    try:
        wait(f"{expected} Garage nodes with a role", enough, bound)
    except RuntimeError as exc:
        log(f"{exc}; applying the roles staged so far (the timer applies later ones)")
    layout = admin.ok("GET", "GetClusterLayout")
    if not layout["stagedRoleChanges"]:
        log(f"layout version {layout['version']} is current")
        return
    version = layout["version"] + 1
    admin.ok("POST", "ApplyClusterLayout", {"version": version})
    log(f"applied layout version {version}")


def ensure_bucket_and_key(admin: Admin, bucket: str, key_name: str, key_id: str, secret: str) -> None:
    status, info = admin.call("GET", "GetBucketInfo", globalAlias=bucket)
    if status == 404:
        info = admin.ok("POST", "CreateBucket", {"globalAlias": bucket})
        log(f"created bucket {bucket}")
    elif status != 200:
        raise RuntimeError(f"GetBucketInfo {bucket}: HTTP {status}: {info}")
    bucket_id = info["id"]
    status, key = admin.call("GET", "GetKeyInfo", id=key_id)
    if status == 404:
        admin.ok("POST", "ImportKey", {"accessKeyId": key_id, "secretAccessKey": secret, "name": key_name})
        log(f"imported key {key_id} ({key_name})")
    elif status != 200:
        raise RuntimeError(f"GetKeyInfo {key_id}: HTTP {status}: {key}")
    admin.ok(
        "POST",
        "AllowBucketKey",
        {"bucketId": bucket_id, "accessKeyId": key_id, "permissions": {"read": True, "write": True, "owner": False}},
    )
    log(f"key {key_id} may read and write bucket {bucket} (not owner: it cannot change the bucket's settings)")


def main(env: dict[str, str]) -> int:
    bound = float(env.get("GARAGE_WAIT_SECONDS", "600"))
    try:
        admin = Admin(env["GARAGE_ADMIN_URL"], Path(env["GARAGE_ADMIN_TOKEN_FILE"]).read_text().strip())
        wait("the Garage admin API", lambda: admin.ok("GET", "GetClusterHealth"), bound)
        capacity = int(env["GARAGE_CAPACITY"]) if env.get("GARAGE_CAPACITY") else None
        stage_own_role(admin, env["GARAGE_ZONE"], capacity)
        if env.get("GARAGE_MANAGE") == "1":
            apply_layout(admin, int(env.get("GARAGE_EXPECTED_NODES", "1")), bound)
            key_id = Path(env["GARAGE_KEY_ID_FILE"]).read_text().strip()
            secret = Path(env["GARAGE_SECRET_KEY_FILE"]).read_text().strip()
            # The bucket needs a layout; wait until the cluster can serve it.
            wait(
                "a healthy cluster",
                lambda: admin.ok("GET", "GetClusterHealth").get("status") in ("healthy", "degraded"),
                bound,
            )
            ensure_bucket_and_key(admin, env["GARAGE_BUCKET"], env.get("GARAGE_KEY_NAME", "housify"), key_id, secret)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        log(f"failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(dict(os.environ)))
