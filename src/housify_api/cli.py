"""``housify-api``: ``serve``, ``migrate``, ``create-superuser``, ``keys generate``, ``storage copy``.

Settings are read only through the loader (``HOUSIFY_DATABASE_URL_FILE`` works
like ``HOUSIFY_DATABASE_URL``); a bad one prints one line naming the variable
and exits 2 (:func:`housify_common.cli.run_command`). ``serve`` on the
embedded default (no database URL) applies migrations to the SQLite file
first, so one command gives a working service; with a configured database run
``housify-api migrate`` first (NixOS units do).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from housify_common.cli import run_command

if TYPE_CHECKING:
    from housify_api.settings import ApiSettings


def _settings() -> ApiSettings:
    from housify_api.settings import load_api_settings

    return load_api_settings()


def describe_database(settings: ApiSettings) -> str:
    """The database for a banner: the URL without its password, or the embedded SQLite file."""
    if not settings.database_url:
        return f"embedded SQLite under {settings.resolved_data_dir()}"
    parts = urlsplit(settings.database_url)
    if parts.password is None:
        return settings.database_url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def cmd_serve(args: argparse.Namespace) -> int:
    from housify_api.app import create_app
    from housify_api.system import serve
    from housify_common.db import migrate_all

    settings = _settings()
    if args.migrate or not settings.database_url:
        asyncio.run(migrate_all())
    app = create_app(settings)
    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    print(
        f"Housify API on {base}\n"
        f"  API docs: {base}/schema/swagger (Swagger UI), {base}/schema/redoc (ReDoc), {base}/schema/openapi.json\n"
        f"  database: {describe_database(settings)}\n"
        f"  redis:    {settings.redis_url or 'in-process stand-in (fakeredis)'}",
        flush=True,
    )
    serve.run(
        args.server,
        app,
        host=args.host,
        port=args.port,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_level=args.log_level,
        access_log=not args.no_access_log,
    )
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from housify_common.db import migrate_all

    asyncio.run(migrate_all())
    print("migrations applied")
    return 0


def cmd_create_superuser(args: argparse.Namespace) -> int:
    import msgspec
    from litestar.exceptions import ValidationException

    from housify_api.app import bootstrap_superuser
    from housify_api.services import build_services

    settings = _settings()
    email = args.email or settings.superuser_email or input("e-mail: ")
    if args.password_file:
        password = Path(args.password_file).read_text().rstrip("\r\n")
    else:
        password = settings.superuser_password or getpass.getpass("password: ")
    services = build_services(msgspec.structs.replace(settings, superuser_email=email, superuser_password=password))

    async def run() -> None:
        try:
            await bootstrap_superuser(services)
        finally:
            await services.redis.aclose()

    try:
        asyncio.run(run())
    except ValidationException as exc:
        print(f"create-superuser: {exc.detail}", file=sys.stderr)
        return 2
    print(f"superuser {email} is present")
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    from housify_api.auth.keys import generate_keypair, jwk_of, load_private_key

    try:
        private, public = generate_keypair(Path(args.dir))
    except FileExistsError as exc:
        print(f"keys generate: {exc}", file=sys.stderr)
        return 1
    kid = jwk_of(load_private_key(private.read_text()).public_key())["kid"]
    print(
        f"private key: {private}\npublic key:  {public}\nkid:         {kid}\n"
        f"set HOUSIFY_JWT_PRIVATE_KEY_FILE={private} HOUSIFY_JWT_PUBLIC_KEY_FILE={public}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="housify-api", description="Housify REST API service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API (uvicorn or granian)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--migrate", action="store_true", help="apply migrations first (always on the embedded default)")
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1", help="proxies whose X-Forwarded-For is trusted")
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", action="store_true")
    serve.add_argument(
        "--server",
        choices=("uvicorn", "granian"),
        default="granian",
        help="HTTP server (docs/architecture.md, 'Serving'); default granian (less CPU per request)",
    )
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply piccolo migrations").set_defaults(func=cmd_migrate)
    su = sub.add_parser("create-superuser", help="create an admin account if it does not exist")
    su.add_argument("--email")
    su.add_argument(
        "--password-file", help="file holding the password (else HOUSIFY_SUPERUSER_PASSWORD(_FILE) or a prompt)"
    )
    su.set_defaults(func=cmd_create_superuser)
    keys = sub.add_parser("keys", help="JWT signing keys").add_subparsers(dest="keys_command", required=True)
    gen = keys.add_parser("generate", help="write a new ES512 (P-521) key pair")
    gen.add_argument("--dir", default="keys", help="directory for jwt-private.pem / jwt-public.pem (default ./keys)")
    gen.set_defaults(func=cmd_keys_generate)
    from housify_common import redis_acl
    from housify_common.storage import cli as storage_cli

    storage_cli.add_parser(sub)
    redis_acl.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("PICCOLO_CONF", "housify_api.piccolo_conf")
    args = build_parser().parse_args(argv)
    return run_command("housify-api", lambda: int(args.func(args)))


if __name__ == "__main__":
    sys.exit(main())
