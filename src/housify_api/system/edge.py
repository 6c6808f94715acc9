"""The outermost per-request layer of housify-api: Prometheus request metrics and the
fixed security headers, in one pure-ASGI wrapper with one ``send`` wrapper.

:func:`install` wraps the app's ``asgi_handler`` (Litestar's exception handler around
its router), so the layer sees every HTTP response as sent, error responses included,
and adds no middleware to the routes themselves (a route with no middleware runs
without Litestar's per-route exception layer). WebSocket and lifespan traffic passes
through untouched.

Metrics (the names and labels Litestar's ``PrometheusMiddleware`` used, so dashboards
keep working; ``prefix`` is ``housify``):

- ``housify_requests_total{method, path, status_code, app_name}`` (counter),
- ``housify_request_duration_seconds{method, path, status_code, app_name}`` (histogram,
  seconds from the request's arrival to its last body message),
- ``housify_requests_error_total{...}`` (counter, status ≥ 500),
- ``housify_requests_in_progress{method, app_name}`` (gauge; by method only, since the
  route is known only once the router ran).

``path`` is the route's template (``/images/{image_id:uuid}``), never the raw path, so
the label set stays bounded; requests that matched no route (404 from the router) are
not counted, as with ``exclude_unhandled_paths``.

Why not Litestar's middleware: it built a ``Request``, the URL and a label dict and
called ``.labels()`` (string conversion and a lock) four times per request, and being
route middleware it also brought Litestar's per-route exception layer; together that
was over a quarter of a ``GET /health`` (measured with py-spy, ``bench/README.md``).
Here each label combination's children are looked up once and kept in a dict.

Security headers (OWASP Secure Headers Project): ``X-Content-Type-Options: nosniff``,
``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer`` on every HTTP response,
unless the response set that header itself.
"""

from __future__ import annotations

import time
from typing import Any, cast

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_SECURITY_NAMES = frozenset(name for name, _ in SECURITY_HEADERS)
_LABELS = ("method", "path", "status_code", "app_name")
_METRICS: dict[str, MetricWrapperBase] = {}


def _metric(kind: type[MetricWrapperBase], name: str, documentation: str, labels: tuple[str, ...]) -> Any:
    """One collector per name per process (the default registry refuses duplicates)."""
    metric = _METRICS.get(name)
    if metric is None:
        metric = _METRICS[name] = kind(name, documentation, labelnames=labels)
    return metric


class RequestMetrics:
    """Counts and times HTTP requests by route template and status; adds security headers.

    Args:
        app: the ASGI app to wrap (Litestar's ``asgi_handler``).
        app_name: the ``app_name`` label value.
        prefix: metric name prefix.
    """

    def __init__(self, app: ASGIApp, app_name: str = "housify_api", prefix: str = "housify") -> None:
        self.app = app
        self.app_name = app_name
        self._total = _metric(Counter, f"{prefix}_requests_total", "Total requests", _LABELS)
        self._errors = _metric(Counter, f"{prefix}_requests_error_total", "Total errors in requests", _LABELS)
        self._duration = _metric(
            Histogram, f"{prefix}_request_duration_seconds", "Request duration, in seconds", _LABELS
        )
        self._in_progress = _metric(
            Gauge, f"{prefix}_requests_in_progress", "Total requests currently in progress", ("method", "app_name")
        )
        # (method, path template, status) -> (requests_total child, duration child, errors child or None)
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._gauges: dict[str, Any] = {}

    def _children_for(self, key: tuple[str, str, int]) -> tuple[Any, Any, Any]:
        values = (key[0], key[1], str(key[2]), self.app_name)
        children = (
            self._total.labels(*values),
            self._duration.labels(*values),
            self._errors.labels(*values) if key[2] >= 500 else None,
        )
        if len(self._children) < 10_000:  # bounded: methods x route templates x statuses
            self._children[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method: str = cast("Any", scope)["method"]
        gauge = self._gauges.get(method)
        if gauge is None:
            gauge = self._gauges.setdefault(method, self._in_progress.labels(method, self.app_name))
        start = time.perf_counter()
        status = 500  # an exception that escaped every handler: uvicorn answers 500
        end = 0.0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, end
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                if headers is None:
                    message["headers"] = list(SECURITY_HEADERS)
                elif not any(name.lower() in _SECURITY_NAMES for name, _ in headers):
                    if isinstance(headers, list):
                        headers.extend(SECURITY_HEADERS)
                    else:
                        message["headers"] = [*headers, *SECURITY_HEADERS]
                else:
                    present = {name.lower() for name, _ in headers}
                    message["headers"] = [*headers, *(h for h in SECURITY_HEADERS if h[0] not in present)]
            elif not message.get("more_body", False):
                end = time.perf_counter()
            await send(message)

        gauge.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            gauge.dec()
            path = scope.get("path_template")
            if path is not None:  # None: no route matched (the router's 404)
                key = (method, path, status)
                children = self._children.get(key) or self._children_for(key)
                children[0].inc()
                children[1].observe((end or time.perf_counter()) - start)
                if children[2] is not None:
                    children[2].inc()


def install(app: Litestar, app_name: str = "housify_api") -> Litestar:
    """Wrap ``app``'s ASGI handler (inside ``Litestar.__call__``) with :class:`RequestMetrics`; returns ``app``."""
    app.asgi_handler = RequestMetrics(app.asgi_handler, app_name=app_name)
    return app
