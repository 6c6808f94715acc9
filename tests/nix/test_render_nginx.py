"""``nixos/lib/render-nginx.nix``: the text nginx loads, checked by nginx itself.

The renderer is pure builtins, so these run with ``nix-instantiate`` alone. The
text is wrapped in a minimal ``nginx.conf`` and checked with Debian's nginx
(``nginx -t``), then served for real: two fake API instances behind
``least_conn``, the internal ``/_media/`` and ``/_media_s3/`` locations after an
``X-Accel-Redirect``, a WebSocket through ``/jobs/``, the web app's hashed
assets. Debian 12's nginx is 1.22, which has no QUIC: it renders with its own
version, so HTTP/3 is off there; the HTTP/3 text (nixpkgs' nginx) is checked as
text only.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit import free_port

from .conftest import render, rendered

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx)")

SERVER_NAME = "housify.test"
S3_QUERY = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=GK1%2F20261128%2Fgarage%2Fs3%2Faws4_request&X-Amz-Signature=abc123"


def nginx_version() -> str:
    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
    match = re.search(r"nginx/(\d+\.\d+\.\d+)", out.stderr + out.stdout)
    assert match, out.stderr
    return match.group(1)


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> dict[str, Path]:
    """A throwaway self-signed certificate for housify.test and 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls")
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
            f"/CN={SERVER_NAME}",
            "-addext",
            f"subjectAltName=DNS:{SERVER_NAME},IP:127.0.0.1",
            "-keyout",
            str(d / "tls.key"),
            "-out",
            str(d / "tls.crt"),
        ],
        check=True,
        capture_output=True,
    )
    return {"cert": d / "tls.crt", "key": d / "tls.key"}


def base_params(tls: dict[str, Path], **extra) -> dict:
    return {
        "serverName": SERVER_NAME,
        "apiUpstreams": ["127.0.0.1:8100", "127.0.0.1:8101"],
        "tlsCertificate": str(tls["cert"]),
        "tlsCertificateKey": str(tls["key"]),
        "clientMaxBodySize": "1000M",
        "nginxVersion": nginx_version(),
        "listenAddresses": ["127.0.0.1"],
        **extra,
    }


def write_config(prefix: Path, http_text: str) -> Path:
    """A minimal nginx.conf with the rendered http-context text; everything nginx writes stays under prefix."""
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    (prefix / "http.conf").write_text(http_text)
    conf = prefix / "nginx.conf"
    conf.write_text(
        f"""
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/http.conf;
}}
"""
    )
    return conf


def nginx_test(conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["nginx", "-t", "-q", "-c", str(conf), "-p", str(conf.parent)], capture_output=True, text=True
    )


# --- the text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="minimal"),
        pytest.param(
            {
                "soapUpstream": "127.0.0.1:8300",
                "webRoot": "/srv/web",
                "mediaRoot": "/var/lib/housify/storage",
                "s3Endpoint": "https://localhost:3900",
                "acmeChallengeRoot": "/var/lib/acme/acme-challenge",
                "aiUpstreams": ["10.0.1.20:8200", "10.0.1.21:8200"],
                "metricsAllow": ["10.0.1.0/24", "fd00:1::/64"],
                "listenAddresses": ["127.0.0.1", "[::1]"],
            },
            id="everything",
        ),
        pytest.param({"mediaRoot": "/var/lib/housify/storage"}, id="directory-store"),
        pytest.param({"s3Endpoint": "http://10.0.1.10:3900"}, id="s3-store"),
    ],
)
def test_nginx_accepts_the_rendered_text(tls, tmp_path: Path, extra: dict) -> None:
    text = rendered("nginx", base_params(tls, **extra), tmp_path)
    result = nginx_test(write_config(tmp_path / "nginx", text))
    assert result.returncode == 0, result.stderr + "\n" + text


def test_nginx_rejects_a_broken_text(tls, tmp_path: Path) -> None:
    """The check above can fail: a renderer that emitted this would be caught."""
    text = rendered("nginx", base_params(tls), tmp_path).replace("least_conn;", "least_conn")
    result = nginx_test(write_config(tmp_path / "nginx", text))
    assert result.returncode != 0 and "emerg" in result.stderr


def test_http3_on_nixpkgs_nginx_listens_quic_with_reuseport_once_per_address(tls, tmp_path: Path) -> None:
    """nixos-25.11's nginx (1.28) has QUIC: one `quic reuseport` listen per address, `http2 on`, Alt-Svc."""
    text = rendered("nginx", base_params(tls, nginxVersion="1.28.0", listenAddresses=["0.0.0.0", "[::]"]), tmp_path)
    quic = re.findall(r"listen (\S+) quic reuseport default_server;", text)
    assert quic == ["0.0.0.0:443", "[::]:443"]
    assert text.count("reuseport") == 2  # nginx refuses a second reuseport on the same address:port
    assert "http2 on;" in text and "http3 on;" in text and " ssl http2;" not in text
    assert "add_header Alt-Svc 'h3=\":443\"; ma=86400' always;" in text


def test_old_nginx_gets_no_quic_and_the_listen_http2_form(tls, tmp_path: Path) -> None:
    text = rendered("nginx", base_params(tls, nginxVersion="1.22.1"), tmp_path)
    assert "quic" not in text and "Alt-Svc" not in text and "http3" not in text
    assert "listen 127.0.0.1:443 ssl http2 default_server;" in text
    result = render("nginx", base_params(tls, nginxVersion="1.22.1", http3=True), tmp_path)
    assert result.returncode != 0 and "http3 needs nginx >= 1.25.0" in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"apiUpstreams": []}, "apiUpstreams must be a non-empty list"),
        ({"apiUpstreams": ["127.0.0.1"]}, "apiUpstreams must be a non-empty list"),
        ({"s3Endpoint": "http://s3.example.com/bucket"}, "is not http(s)://host[:port]"),
        ({"clientMaxBodySize": "lots"}, "is not a size"),
        ({"serverName": ""}, "serverName must be a non-empty string"),
    ],
)
def test_bad_parameters_fail_with_their_message(tls, tmp_path: Path, change: dict, message: str) -> None:
    result = render("nginx", base_params(tls, s3Endpoint="http://127.0.0.1:3900") | change, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_every_public_location_carries_the_security_headers(tls, tmp_path: Path) -> None:
    """Locations that add headers of their own repeat the server's (nginx does not inherit them then)."""
    text = rendered("nginx", base_params(tls, webRoot="/srv/web"), tmp_path)
    server = text[text.index("listen 127.0.0.1:443") :]
    for block in re.findall(r"location [^{]+\{[^}]*\}", server):
        if "add_header" in block:
            assert "Strict-Transport-Security" in block and "X-Frame-Options" in block, block


# --- served for real --------------------------------------------------------------------------


class Recorder(http.server.ThreadingHTTPServer):
    """A fake upstream that records each request's method, path and headers."""

    daemon_threads = True

    def __init__(self, name: str, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", free_port()), handler)
        self.name = name
        self.requests: list[dict] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class FakeApi(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Recorder

    def log_message(self, *args) -> None:
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server hook name
        self.server.requests.append({"path": self.path, "headers": dict(self.headers)})
        if self.path.startswith("/jobs/") and self.headers.get("Upgrade", "").lower() == "websocket":
            self.websocket()
        elif self.path == "/whoami":
            body = json.dumps({"upstream": self.server.name, "headers": dict(self.headers)}).encode()
            self.reply(200, body, {"Content-Type": "application/json", "X-Frame-Options": "DENY"})
        elif self.path == "/images/local":
            self.reply(
                200, headers={"X-Accel-Redirect": "/_media/images/a.png", "Cache-Control": "private, max-age=60"}
            )
        elif self.path == "/images/s3":
            self.reply(
                200,
                headers={
                    "X-Accel-Redirect": f"/_media_s3/pictures/images/a.png?{S3_QUERY}",
                    "Cache-Control": "private, max-age=60",
                },
            )
        else:
            self.reply(404, b"api: not found")

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers)})
        self.reply(201, json.dumps({"upstream": self.server.name}).encode(), {"Content-Type": "application/json"})

    def websocket(self) -> None:
        """A WebSocket handshake (RFC 6455 §4.2.2), then one text frame naming this upstream."""
        import base64
        import hashlib

        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        payload = f"hello from {self.server.name}".encode()
        self.wfile.write(bytes([0x81, len(payload)]) + payload)
        self.wfile.flush()
        self.close_connection = True


class FakeS3(FakeApi):
    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
        self.reply(
            200,
            b"S3 PICTURE BYTES",
            {"Content-Type": "image/png", "x-amz-request-id": "R1", "Cache-Control": "public, max-age=99999"},
        )


@pytest.fixture(scope="module")
def edge(tls, tmp_path_factory) -> Iterator[dict]:
    """nginx (master_process off: runs as this user) in front of two fake API instances and a fake S3."""
    root = tmp_path_factory.mktemp("edge")
    web = root / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>Housify</title>")
    (web / "assets" / "app-3f9a1c.js").write_text("console.log('housify')")
    media = root / "media"
    (media / "images").mkdir(parents=True)
    picture = b"\x89PNG\r\n\x1a\nlocal picture bytes"
    (media / "images" / "a.png").write_bytes(picture)

    apis = [Recorder("api-0", FakeApi), Recorder("api-1", FakeApi)]
    s3 = Recorder("s3", FakeS3)
    http_port, https_port = free_port(), free_port()
    text = rendered(
        "nginx",
        base_params(
            tls,
            apiUpstreams=[a.address for a in apis],
            webRoot=str(web),
            mediaRoot=str(media),
            s3Endpoint=f"http://{s3.address}",
            httpPort=http_port,
            httpsPort=https_port,
        ),
        root,
    )
    conf = write_config(root / "nginx", text)
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(conf.parent), "-g", "daemon off; master_process off;"],
        stderr=subprocess.PIPE,
        text=True,
    )
    client = httpx.Client(
        base_url=f"https://127.0.0.1:{https_port}", verify=ssl.create_default_context(cafile=str(tls["cert"]))
    )
    try:
        for _ in range(100):
            try:
                client.get("/assets/app-3f9a1c.js")
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.05)
        yield {
            "client": client,
            "apis": apis,
            "s3": s3,
            "picture": picture,
            "http_port": http_port,
            "https_port": https_port,
            "tls": tls,
        }
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
        for server in (*apis, s3):
            server.shutdown()


def test_least_conn_spreads_requests_over_both_instances_with_forwarded_headers(edge) -> None:
    seen = []
    for _ in range(10):
        r = edge["client"].get("/whoami")
        assert r.status_code == 200
        seen.append(r.json()["upstream"])
        forwarded = {k.lower(): v for k, v in r.json()["headers"].items()}
        assert forwarded["x-forwarded-proto"] == "https" and forwarded["x-real-ip"] == "127.0.0.1"
        assert r.headers.get_list("x-frame-options") == ["DENY"]  # the API's copy hidden, nginx's sent
    assert set(seen) == {"api-0", "api-1"}


def test_directory_store_picture_through_the_internal_location(edge) -> None:
    r = edge["client"].get("/images/local", headers={"Authorization": "Bearer t"})
    assert r.status_code == 200 and r.content == edge["picture"]
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "private, max-age=60"  # the API's decision, not overridden
    assert "strict-transport-security" in r.headers
    assert edge["client"].get("/_media/images/a.png").status_code == 404  # internal only


def test_s3_picture_through_the_presigned_proxy(edge) -> None:
    s3 = edge["s3"]
    s3.requests.clear()
    r = edge["client"].get("/images/s3", headers={"Authorization": "Bearer secret", "Cookie": "refresh=secret"})
    assert r.status_code == 200 and r.content == b"S3 PICTURE BYTES"
    assert r.headers["cache-control"] == "private, max-age=60"  # the API's, not the bucket's
    assert "x-amz-request-id" not in r.headers
    [request] = s3.requests
    assert request["path"] == f"/pictures/images/a.png?{S3_QUERY}"  # prefix stripped, query byte for byte
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["host"] == s3.address  # SigV4 signs the endpoint's host:port
    assert "authorization" not in headers and "cookie" not in headers
    assert edge["client"].get(f"/_media_s3/pictures/images/a.png?{S3_QUERY}").status_code == 404
    assert len(s3.requests) == 1


def test_post_jobs_reaches_the_api_not_a_redirect(edge) -> None:
    """A prefix location "/jobs/" would make nginx answer POST /jobs with a 301 (nginx's location docs)."""
    r = edge["client"].post("/jobs", json={"task": "text2img"})
    assert r.status_code == 201 and r.json()["upstream"] in {"api-0", "api-1"}


def test_websocket_upgrade_through_jobs(edge) -> None:
    from websockets.sync.client import connect

    context = ssl.create_default_context(cafile=str(edge["tls"]["cert"]))
    with connect(f"wss://127.0.0.1:{edge['https_port']}/jobs/1/events", ssl=context, open_timeout=5) as ws:
        assert ws.recv(timeout=5) in {"hello from api-0", "hello from api-1"}


def test_metrics_allow_list_has_no_other_spelling(edge) -> None:
    """Issue 21 item 9: on 02e5a16 "/metrics/" and "/metrics%2F" reached the API from any address."""
    context = ssl.create_default_context(cafile=str(edge["tls"]["cert"]))
    base = f"https://127.0.0.1:{edge['https_port']}"
    # 127.0.0.2 is this host too (the loopback net), but not an allowed source (only 127.0.0.1 and ::1)
    outsider = httpx.Client(
        base_url=base, verify=context, transport=httpx.HTTPTransport(local_address="127.0.0.2", verify=context)
    )
    with outsider:
        for path in ("/metrics", "/metrics/", "/metrics%2F", "/metrics%2f", "/metrics/x", "/metrics?format=text"):
            assert outsider.get(path).status_code == 403, path
        assert outsider.get("/whoami").status_code == 200
    assert edge["client"].get("/metrics").status_code != 403  # loopback may (the fake API has no /metrics)


def test_web_app_files_and_hashed_assets(edge) -> None:
    client = edge["client"]
    index = client.get("/")
    assert index.status_code == 200 and "<title>Housify</title>" in index.text
    assert index.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in index.headers["content-security-policy"]
    assert "unsafe-inline" not in index.headers["content-security-policy"]
    asset = client.get("/assets/app-3f9a1c.js")
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "strict-transport-security" in asset.headers and asset.headers["x-frame-options"] == "DENY"
    assert client.get("/assets/missing-123.js").status_code == 404  # never the API for assets
    assert client.get("/create").text == "api: not found"  # not a file: the API decides


def test_http_redirects_to_https_and_tls_speaks_http2(edge) -> None:
    r = httpx.get(f"http://127.0.0.1:{edge['http_port']}/images/1?x=2")
    assert r.status_code == 301
    assert r.headers["location"] == f"https://127.0.0.1:{edge['https_port']}/images/1?x=2"
    if shutil.which("curl"):
        out = subprocess.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_version}",
                "--http2",
                "--cacert",
                str(edge["tls"]["cert"]),
                f"https://127.0.0.1:{edge['https_port']}/",
            ],
            capture_output=True,
            text=True,
        )
        assert out.stdout == "2", out.stderr


def test_the_text_answers_gixy_ngs_findings(tls, tmp_path: Path) -> None:
    """What gixy-ng (.ci/run, nixos/tests/gixy.sh) asked for: no version in any server (http-level
    server_tokens off), forward-secret AEAD ciphers for TLS 1.2, open_file_cache beside try_files."""
    text = rendered("nginx", base_params(tls, webRoot="/srv/web", aiUpstreams=["10.0.1.20:8200"]), tmp_path)
    assert text.index("server_tokens off;") < text.index("server {")
    ciphers = re.search(r"ssl_ciphers ([^;]+);", text)
    assert ciphers and all(c.startswith("ECDHE-") and ("GCM" in c or "CHACHA20" in c) for c in ciphers[1].split(":"))
    assert "open_file_cache max=1000 inactive=60s;" in text and "try_files" in text
    assert "open_file_cache" not in rendered("nginx", base_params(tls), tmp_path)
