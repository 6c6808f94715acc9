"""The housify-soap ASGI app: ``/soap`` (spyne, WSDL at ``/soap?wsdl``) and ``/health``.

spyne is WSGI-only; it runs in a pool of ``soap_threads`` worker threads
(:class:`~housify_soap.wsgi_bridge.BufferedWSGI`, one thread hop per call), so
the waits of a cold cache, the database and upstream happen off the event loop
while httpx and piccolo run on it (see ``rates.py``). A ``GetCryptoRate`` whose
answer is cached waits on nothing and runs on the loop itself (about 0.7 ms of
CPU, no thread hop). a2wsgi's streaming middleware was measured slower on this
workload (``docs/soap.md``, ``bench/soap_throughput.py``).

``create_app(settings)`` returns an ASGI callable for uvicorn, also inside
another program (``housify standalone``) or under a mount: it honours
``root_path``, answers ASGI lifespan itself and, when the host does not forward
lifespan (e.g. a Litestar mount), starts lazily on its first request; the host
may also ``await app.startup()`` / ``await app.shutdown()`` explicitly.
"""

from __future__ import annotations

import asyncio
import logging
import os

from piccolo.engine.postgres import PostgresEngine
from spyne.server.wsgi import WsgiApplication

from housify_soap.binance import BinanceClient
from housify_soap.guard import ENVELOPE_SCOPE_KEY, SOAP11_ENV, Receive, Scope, Send, XmlGuard, crash_to_fault
from housify_soap.rates import RateService
from housify_soap.retention import RetentionTask, keep_seconds
from housify_soap.service import TNS, build_application
from housify_soap.settings import SoapSettings, get_settings
from housify_soap.wsgi_bridge import BufferedWSGI

log = logging.getLogger(__name__)

SOAP_PATH = "/soap"
#: Seconds a cached price must still be valid for its ``GetCryptoRate`` to run on the event loop
#: (the call itself takes about a millisecond); otherwise it runs in a worker thread.
INLINE_MARGIN = 0.25
_BODY = f"{{{SOAP11_ENV}}}Body"
_GET_CRYPTO_RATE = f"{{{TNS}}}GetCryptoRate"
_SYMBOL = f"{{{TNS}}}symbol"
_JSON = [(b"content-type", b"application/json")]


class SoapApp:
    """ASGI app of the CryptoRateService.

    Args:
        settings: see :class:`SoapSettings`.
        own_db_pool: open and close the PostgreSQL connection pool of
            ``binance_data``'s engine; pass False when the hosting process
            already manages that engine's pool (one shared database).
    """

    def __init__(self, settings: SoapSettings, *, own_db_pool: bool = True) -> None:
        os.environ.setdefault("PICCOLO_CONF", "housify_soap.piccolo_conf")
        from housify_soap.tables import BinanceData  # binds to PICCOLO_CONF's engine

        self.settings = settings
        self._table = BinanceData
        self._own_db_pool = own_db_pool
        self.binance = BinanceClient(
            settings.soap_binance_url, settings.soap_binance_timeout, settings.soap_binance_retries
        )
        backoff = sum(0.1 * 2**i for i in range(settings.soap_binance_retries))
        self.rates = RateService(
            self.binance,
            cache_ttl=settings.soap_cache_ttl,
            unknown_ttl=settings.soap_unknown_symbol_ttl,
            stale_max_age=settings.soap_stale_max_age,
            store=BinanceData,
            cache_size=settings.soap_cache_max_symbols,
            # two upstream fetches (direct + inverse pair) with all retries, plus database time
            call_budget=2 * (settings.soap_binance_timeout * (settings.soap_binance_retries + 1) + backoff) + 5.0,
        )
        self.retention = RetentionTask(
            BinanceData,
            keep=keep_seconds(settings.soap_retention_hours, settings.soap_stale_max_age),
            interval=settings.soap_retention_interval,
            batch_size=settings.soap_retention_batch,
        )
        self.spyne_app = build_application(self.rates)
        wsgi = crash_to_fault(WsgiApplication(self.spyne_app))
        self._wsgi = BufferedWSGI(wsgi, workers=settings.soap_threads, inline=self._answered_from_cache)
        self._soap = XmlGuard(self._wsgi, settings.soap_max_request_bytes)
        self._started = False
        self._closed = False
        self._start_lock = asyncio.Lock()

    def _answered_from_cache(self, scope: Scope) -> bool:
        """True for a ``GetCryptoRate`` whose symbol's cached answer outlives the call by :data:`INLINE_MARGIN`."""
        root = scope.get(ENVELOPE_SCOPE_KEY)
        if root is None:
            return False
        operation = next((child for child in root.find(_BODY) if isinstance(child.tag, str)), None)
        if operation is None or operation.tag != _GET_CRYPTO_RATE:
            return False
        arguments = [child for child in operation if isinstance(child.tag, str)]
        if len(arguments) != 1 or arguments[0].tag != _SYMBOL:  # odd shapes: let spyne judge them in a thread
            return False
        symbol = arguments[0].text
        return symbol is not None and self.rates.is_warm(symbol, INLINE_MARGIN)

    async def startup(self) -> None:
        """Bind the rate service to the running loop, open the database pool, start the retention task (idempotent)."""
        async with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise RuntimeError("housify-soap app was shut down; create a new one")
            self.rates.bind_loop(asyncio.get_running_loop())
            engine = self._table._meta.db
            if self._own_db_pool and isinstance(engine, PostgresEngine):
                await engine.start_connection_pool()
            self.retention.start()
            self._started = True
            log.info("housify-soap ready; Binance at %s", self.settings.soap_binance_url)

    async def shutdown(self) -> None:
        """Stop the retention task, close the upstream client, the worker threads and the pool opened by :meth:`startup`."""
        if not self._started:
            return
        self._started = False
        self._closed = True
        await self.retention.stop()
        self._wsgi.shutdown()
        await self.binance.aclose()
        engine = self._table._meta.db
        if self._own_db_pool and isinstance(engine, PostgresEngine):
            await engine.close_connection_pool()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if not self._started:
            await self.startup()
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if path == SOAP_PATH:
            await self._soap(scope, receive, send)
        elif path == "/health":
            await _respond(send, 200, b'{"status":"ok"}', _JSON)
        else:
            await _respond(
                send, 404, f'{{"status_code":404,"detail":"not found; SOAP is at {SOAP_PATH}"}}'.encode(), _JSON
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # e.g. the database is down: say so and let uvicorn exit
                    log.exception("housify-soap start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: SoapSettings | None = None, *, own_db_pool: bool = True) -> SoapApp:
    """The ASGI app; settings from the environment when not given. SOAP at ``/soap``, WSDL at ``/soap?wsdl``."""
    return SoapApp(settings or get_settings(), own_db_pool=own_db_pool)
