"""``housify-soap serve [--host --port --log-level --no-access-log]`` and ``housify-soap migrate``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PICCOLO_CONF", "housify_soap.piccolo_conf")  # before any tables import
    parser = argparse.ArgumentParser(prog="housify-soap", description="Housify CryptoRateService (SOAP 1.1).")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve SOAP at /soap (WSDL at /soap?wsdl) and /health with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8003)
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="uvicorn's per-request log line at info level; about 0.1 ms of CPU per call (docs/soap.md)",
    )
    sub.add_parser("migrate", help="apply pending piccolo migrations of PICCOLO_CONF's apps")
    args = parser.parse_args(argv)

    from housify_common.cli import run_command

    return run_command("housify-soap", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    if args.command == "migrate":
        from housify_common.db import migrate_all

        asyncio.run(migrate_all())
        return 0
    import uvicorn

    from housify_soap.app import create_app

    app = create_app()
    # Start-up objects (modules, spyne's schema, piccolo tables) live as long as the
    # process: keep them out of every later full collection (cheaper gen-2 passes).
    gc.freeze()
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log, lifespan="on"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
