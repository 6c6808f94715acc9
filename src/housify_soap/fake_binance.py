"""A stand-in for Binance's ticker endpoint on loopback, for tests, benchmarks and offline demos.

It speaks the real wire format of ``GET /api/v3/ticker/price?symbol=``:
``{"symbol": "BTCUSDT", "price": "43000.12000000"}``, and HTTP 400
``{"code": -1121, "msg": "Invalid symbol."}`` for a symbol it does not list.
Per symbol it can also answer an HTTP error or wait before answering, and it
records every symbol requested. It runs in its own thread (a real HTTP server),
so it works beside any event loop or process.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeBinance:
    """``with FakeBinance({"BTCUSDT": "43000.10"}) as fake: fake.url`` -> ``http://127.0.0.1:<port>``.

    Attributes (change them at any time; reads happen per request):
        prices: symbol -> price string.
        errors: symbol -> HTTP status to answer instead of a price (e.g. 503).
        delays: symbol -> seconds to wait before answering.
        requests: symbols requested, in order.
    """

    def __init__(self, prices: dict[str, str] | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.prices: dict[str, str] = dict(prices or {})
        self.errors: dict[str, int] = {}
        self.delays: dict[str, float] = {}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-binance", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def count(self, symbol: str) -> int:
        """How many times ``symbol`` was requested."""
        with self._lock:
            return self.requests.count(symbol)

    def start(self) -> FakeBinance:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, path: str) -> tuple[int, dict[str, object]]:
        url = urlsplit(path)
        if url.path != "/api/v3/ticker/price":
            return 404, {"code": -1, "msg": "not found"}
        symbol = parse_qs(url.query).get("symbol", [""])[0]
        with self._lock:
            self.requests.append(symbol)
        delay = self.delays.get(symbol, 0.0)
        if delay:
            time.sleep(delay)
        if symbol in self.errors:
            return self.errors[symbol], {"code": -1000, "msg": "fake upstream failure"}
        if symbol not in self.prices:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        return 200, {"symbol": symbol, "price": self.prices[symbol]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server hook name
                status, payload = fake._answer(self.path)
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                pass

        return Handler
