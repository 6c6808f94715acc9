"""Browser tests of the web app: Debian's Chromium driven by Playwright (Python) against
``housify standalone`` on a fresh data dir (SQLite, in-process Redis, tiny models).

Why the Python ``playwright`` package rather than npm ``@playwright/test``: the tests then run in
the one pytest suite (``scripts/test``, ``.ci/run``) with the project's process fixtures, and the
wheel carries its own driver, so no browser or runner is downloaded; ``executable_path`` points at
``/usr/bin/chromium`` (``HOUSIFY_CHROMIUM``) because Playwright's own browser builds cannot be fetched.

Every page is watched: a console error, an uncaught exception, a failed request or a request to any
host but the app's own fails the test; ``axe-core`` (from ``web/node_modules``) runs on each screen.
Screenshots of each screen at both widths go to ``tests/web/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
SHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = os.environ.get("HOUSIFY_CHROMIUM", "/usr/bin/chromium")
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "tall-giraffe-orbit-42"
PASSWORD = "violet-harbor-seventeen"
TEST_ONLY = ("HOUSIFY_DATABASE_URL", "HOUSIFY_REDIS_URL", "HOUSIFY_REDIS_PREFIX", "PICCOLO_CONF", "HOUSIFY_STORAGE_DIR",
             "HOUSIFY_AI_URL", "HOUSIFY_AI_DIFFUSION_MODEL", "HOUSIFY_AI_LLM_MODEL", "HOUSIFY_DATA_DIR")
VIEWPORTS = {"phone": {"width": 360, "height": 740}, "desktop": {"width": 1280, "height": 860}}

playwright_sync = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def web_app_built() -> Path:
    dist = WEB / "dist"
    if not (dist / "index.html").is_file():
        pytest.fail("the web app is not built: run scripts/bootstrap (it runs npm ci && npm run build in web/)")
    if not (WEB / "node_modules" / "axe-core" / "axe.min.js").is_file():
        pytest.fail("web/node_modules/axe-core is missing: run scripts/bootstrap (npm ci in web/)")
    return dist



@pytest.fixture(scope="session")
def greenfield() -> Iterator[object]:
    """The BTCPay Greenfield stand-in (tests/billing/standin.py) served on loopback from a thread:
    the standalone's store, whose checkout page the browser story pays on."""
    import threading

    import uvicorn

    from billing.standin import GreenfieldStandIn

    standin = GreenfieldStandIn()
    port = _free_port()
    standin.base_url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(standin.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="greenfield-standin", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the Greenfield stand-in did not start"
        time.sleep(0.05)
    yield standin
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def standalone(web_app_built: Path, greenfield: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``housify standalone`` on free ports and a fresh data dir, its store on the Greenfield stand-in;
    yields its base URL."""
    data = tmp_path_factory.mktemp("web-standalone")
    port, ai_port, soap_port = _free_port(), _free_port(), _free_port()
    store: Any = greenfield
    store.webhook_url = f"http://127.0.0.1:{port}/billing/btcpay/webhook"
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY}
    # A tiny random "lines" ControlNet (built offline in well under a second), so the redesign task
    # is offered (its control image needs no detector weights).
    from housify_ai.tiny_control import build_tiny_controlnet

    controlnet = build_tiny_controlnet(data / "tiny-controlnet-lines")
    env.update(
        HOUSIFY_AI_CONTROLNET_LINES=str(controlnet),
        HOUSIFY_DATA_DIR=str(data / "var"),
        HOUSIFY_SUPERUSER_EMAIL=ADMIN_EMAIL, HOUSIFY_SUPERUSER_PASSWORD=ADMIN_PASSWORD,
        # No internet here: the rates service's exchange is a closed local port, so prices in
        # crypto answer 503 at once (the screen must say so).
        HOUSIFY_SOAP_BINANCE_URL="http://127.0.0.1:9",
        # Payments through the Greenfield stand-in; the checkout returns to this app.
        HOUSIFY_PUBLIC_URL=f"http://127.0.0.1:{port}",
        HOUSIFY_BTCPAY_URL=store.base_url,
        HOUSIFY_BTCPAY_STORE_ID=store.store_id,
        HOUSIFY_BTCPAY_API_KEY=store.api_key,
        HOUSIFY_BTCPAY_WEBHOOK_SECRET=store.webhook_secret,
    )
    log = data / "standalone.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "housify.cli", "standalone", "--port", str(port), "--ai-port", str(ai_port), "--soap-port", str(soap_port)],
        cwd=data, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"housify standalone exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                ok = httpx.post(f"{base}/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=2).status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"housify standalone not ready in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    # Module scope: Playwright's sync API holds an event loop while it runs, which must be gone
    # before pytest-asyncio runs the suite's async tests on its own loop.
    # The browser is the machine's (Debian's chromium, or the Nix dev shell's): without one the
    # browser tests skip, naming what to install; the vitest suite still runs.
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set HOUSIFY_CHROMIUM)")
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@dataclass
class Watch:
    """What a page did that a test must not tolerate."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)
    trail: list[str] = field(default_factory=list)
    #: Other origins a step visits on purpose (the payment provider's checkout page).
    allowed: set[str] = field(default_factory=set)

    def attach(self, page) -> None:  # noqa: ANN001
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("requestfailed", self._failed)

    def _console(self, msg) -> None:  # noqa: ANN001
        if msg.type != "error":
            return
        text = msg.text
        # Chromium logs every 4xx/5xx answer as a console error; the ones a step provokes on
        # purpose (a wrong password, a 503 from the rates service) are declared with expect().
        if text.startswith("Failed to load resource: the server responded with a status of"):
            return  # the answer itself is judged in _response, with its URL
        self.errors.append(text)

    def _failed(self, request) -> None:  # noqa: ANN001
        # A blob: URL revoked as its screen unmounts and an aborted navigation are not faults.
        if request.url.startswith(("blob:", "data:")) or request.failure == "net::ERR_ABORTED":
            return
        self.errors.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response) -> None:  # noqa: ANN001
        line = f"{response.request.method} {response.url} -> {response.status}"
        self.trail.append(line)
        if response.status >= 400 and response.status not in self.expected_statuses:
            self.errors.append(f"{line}, after: {self.trail[-8:-1]}")

    def _request(self, request) -> None:  # noqa: ANN001
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob"):
            return
        origin = f"{parts.scheme}://{parts.netloc}".replace("ws://", "http://").replace("wss://", "https://")
        if origin != self.origin and origin not in self.allowed:
            self.foreign.append(request.url)

    def expect(self, *statuses: int) -> None:
        self.expected_statuses.update(statuses)

    def allow(self, origin: str) -> None:
        self.allowed.add(origin)

    def check(self) -> None:
        assert not self.foreign, f"requests left {self.origin}: {self.foreign}"
        assert not self.errors, "console errors:\n" + "\n".join(self.errors)


class Screens:
    """Screenshot + axe-core for one viewport."""

    def __init__(self, page, viewport: str) -> None:  # noqa: ANN001
        self.page = page
        self.viewport = viewport
        self.axe_source = (WEB / "node_modules" / "axe-core" / "axe.min.js").read_text()

    def capture(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        self.page.wait_for_load_state("networkidle")
        self.page.screenshot(path=str(SHOTS / f"{self.viewport}-{name}.png"), full_page=True)
        self.axe(name)

    def axe(self, name: str) -> None:
        # evaluate() runs through the DevTools protocol, which the page's CSP does not govern.
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(self.axe_source + "\n;0")
        result = self.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"axe on {self.viewport}/{name}:\n" + "\n".join(bad)


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def context(browser, standalone: str, viewport: str) -> Iterator[object]:  # noqa: ANN001
    ctx = browser.new_context(base_url=standalone, viewport=VIEWPORTS[viewport], is_mobile=viewport == "phone",
                              has_touch=viewport == "phone", accept_downloads=True)
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, standalone: str, viewport: str) -> tuple[object, Watch, Screens]:  # noqa: ANN001
    p = context.new_page()  # closed with its context
    watch = Watch(origin=standalone)
    watch.attach(p)
    return p, watch, Screens(p, viewport)

