"""Running the API's ASGI app under an HTTP server: uvicorn or granian (``housify-api serve --server``).

Both serve one worker process on ``host:port`` with the app's lifespan (pool, Redis,
media consumer) and WebSocket job events, stop gracefully on SIGTERM/SIGINT (lifespan
shutdown runs), and trust ``X-Forwarded-For``/``X-Forwarded-Proto`` only from
``forwarded_allow_ips`` (uvicorn's ``ProxyHeadersMiddleware``; under granian the same
middleware wraps the app, since granian has no such option).

granian (a Rust HTTP server, https://github.com/emmett-framework/granian) builds the app
in its worker through :func:`granian_app`, which reads the same environment as
``create_app()``; the options it cannot take as arguments travel in ``FORWARDED_ALLOW_IPS``
(uvicorn's variable for the same thing). Measured: ``bench/README.md``.
"""

from __future__ import annotations

import os
from typing import Any, cast

SERVERS = ("uvicorn", "granian")


def granian_app() -> Any:
    """The app for granian's worker: ``create_app()`` behind uvicorn's proxy-headers middleware."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from housify_api.app import create_app

    app = cast("Any", create_app())  # an ASGI app; Litestar's and uvicorn's scope types differ only in spelling
    return ProxyHeadersMiddleware(app, trusted_hosts=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))


def run(
    server: str, app: Any, *, host: str, port: int, forwarded_allow_ips: str, log_level: str, access_log: bool
) -> None:
    """Serve until SIGTERM/SIGINT with ``server`` (one of :data:`SERVERS`).

    ``app`` is what ``create_app()`` returned in this process: uvicorn serves it; granian's
    worker builds its own from the same environment (the caller's build then only proved
    the configuration good before the server started).

    Raises:
        ValueError: an unknown ``server``.
    """
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            app,
            host=host,
            port=port,
            proxy_headers=True,
            forwarded_allow_ips=forwarded_allow_ips,
            log_level=log_level,
            access_log=access_log,
        )
    elif server == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops
        from granian.log import LogLevels

        os.environ["FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
        Granian(
            "housify_api.system.serve:granian_app",
            factory=True,
            address=host,
            port=port,
            interface=Interfaces.ASGI,  # with lifespan
            workers=1,
            loop=Loops.uvloop,
            websockets=True,
            log_level=LogLevels(log_level),
            log_access=access_log,
        ).serve()
    else:
        raise ValueError(f"unknown server {server!r}; choose one of {', '.join(SERVERS)}")
