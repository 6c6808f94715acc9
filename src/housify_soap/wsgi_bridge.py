"""Run a WSGI app (spyne) in a thread pool with one thread hop per request.

a2wsgi's ``WSGIMiddleware`` streams: every ``start_response``, body chunk and
body read is a blocking round trip from the worker thread to the event loop
(``run_coroutine_threadsafe(...).result()``), four to six per SOAP call.
SOAP requests and responses are small and the guard has already buffered the
request body, so this bridge hands the whole request to a worker thread and
gets the whole response back in one hop. The WSGI environ is built by
a2wsgi's own ``build_environ``. Measured with ``bench/soap_throughput.py``
(see ``docs/soap.md``).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import build_environ
from a2wsgi.wsgi_typing import Environ

from housify_soap.guard import Receive, Scope, Send

WSGIApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]


class BufferedWSGI:
    """ASGI app running ``app`` in ``workers`` threads; request and response are buffered in memory.

    Only for bounded bodies: put it behind :class:`housify_soap.guard.XmlGuard`
    (POST) — other requests (``GET ?wsdl``) have no body to speak of.

    Args:
        app: the WSGI app.
        workers: size of the thread pool.
        inline: optional ``scope -> bool``; True runs that request on the event
            loop itself, for requests known to wait on nothing (a warm cache):
            the thread hop and the GIL hand-offs cost more CPU than the call
            (``docs/soap.md``, throughput).
    """

    def __init__(self, app: WSGIApp, workers: int, inline: Callable[[Scope], bool] | None = None) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="soap")
        self.inline = inline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        environ = build_environ(scope, io.BytesIO(b"".join(chunks)))  # type: ignore[arg-type]
        if self.inline is not None and self.inline(scope):
            status, headers, body = self._run(environ)
        else:
            status, headers, body = await asyncio.get_running_loop().run_in_executor(self.executor, self._run, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _run(self, environ: Environ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        response: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info and response:
                raise exc_info[1].with_traceback(exc_info[2])
            response["status"] = int(status.split(" ", 1)[0])
            response["headers"] = [(k.strip().lower().encode("latin1"), v.strip().encode("latin1")) for k, v in headers]
            return written.append

        written: list[bytes] = []
        iterable = self.app(environ, start_response)
        try:
            written.extend(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        if "status" not in response:
            raise RuntimeError("WSGI app returned without calling start_response")
        return response["status"], response["headers"], b"".join(written)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["BufferedWSGI"]
