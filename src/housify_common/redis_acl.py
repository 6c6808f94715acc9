"""Who may do what in Redis: the one declaration of every service's keys and commands.

Each service that talks to Redis connects as its own ACL user (Redis 7 ACLs,
https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/),
allowed only the key patterns and commands listed here. The patterns are
relative to ``HOUSIFY_REDIS_PREFIX`` (:class:`housify_common.redis.RedisKeys`,
``housify_ai.contract.StreamKeys``). The NixOS module renders these rules at
build time (``python -m housify_common.redis_acl rules --prefix housify:``)
and adds each user's password hash when Redis starts (docs/deployment.md).

A key a service writes that is missing here fails at once in production
(``NOPERM``) and in ``tests/test_redis_acl.py``, which runs the services'
real code as these users on a real ``redis-server`` and checks that every key
builder in ``src/`` is covered: a new key family (deadlines, limits, orders,
events) cannot be forgotten.

The SOAP service uses no Redis, so it has no user. Commands are listed one by
one rather than by category: ``@write`` alone would also grant ``FLUSHALL``
and ``@keyspace`` ``KEYS``/``SCAN`` over other services' keys.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: What every client does on its connection: the health check's ``PING`` (``AUTH`` and ``HELLO`` need
#: no grant; redis-py ignores a refused ``CLIENT SETINFO``, which Redis 7.0 does not know), transactions
#: (``pipeline(transaction=True)``) and Lua scripts (``register_script``: ``EVALSHA``, ``SCRIPT LOAD`` on a cache miss; the keys a
#: script touches are checked against the user's patterns as if sent directly).
CONNECTION_COMMANDS = ("ping", "multi", "exec", "discard", "evalsha", "script|load")


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """Keys matching ``pattern`` (a Redis glob after the prefix) with ``access`` ``"rw"`` or ``"r"``."""

    pattern: str
    access: str = "rw"
    why: str = ""


@dataclass(frozen=True, slots=True)
class ServiceAcl:
    """One Redis user: its keys and the commands (besides :data:`CONNECTION_COMMANDS`) it runs."""

    user: str
    keys: tuple[KeyGrant, ...]
    commands: tuple[str, ...]
    description: str = ""


_AI_STREAMS = ["xadd", "xreadgroup", "xack", "xautoclaim", "xgroup|create"]

#: The declaration. Keys under ``ai:`` are the AI protocol (``housify_ai.contract.StreamKeys``);
#: the rest are the API's own (``RedisKeys.key(...)`` in ``housify_api``).
SERVICES: tuple[ServiceAcl, ...] = (
    ServiceAcl(
        user="housify-api",
        description="housify-api (HTTP API, WebSocket events, results consumer, deadline sweeper)",
        keys=(
            KeyGrant("signup:*", why="sign-up attempts per client (auth.service)"),
            KeyGrant("mail-to:*", why="mails per recipient (auth.service)"),
            KeyGrant("verify-email:*", why="one-time tokens (auth.service)"),
            KeyGrant("email-change:*", why="one-time tokens (auth.service)"),
            KeyGrant("password-reset:*", why="one-time tokens (auth.service)"),
            KeyGrant("revoked:*", why="token, session and user revocations (auth.revocation)"),
            KeyGrant("login:*", why="login throttling (auth.limiter)"),
            KeyGrant("media:uploads-hour:*", why="uploads per user per hour (media.upload_limits)"),
            KeyGrant("media:uploads-in-flight:*", why="uploads at once per user (media.upload_limits)"),
            KeyGrant("media:jobs-hour:*", why="jobs per user per hour (media.queue)"),
            KeyGrant("media:assist-hour:*", why="prompt-assistant calls per user per hour (media.assist)"),
            KeyGrant("ai:jobs:*", why="enqueue jobs; create the worker group"),
            KeyGrant("ai:events:*", why="queued/expired events; WebSocket reads"),
            KeyGrant("ai:events-wake:*", why="the event hub's own wake-up stream (media.events)"),
            KeyGrant("ai:results", why="results consumer group"),
            KeyGrant("ai:result:*", why="the deadline sweeper publishes an expiry once"),
            KeyGrant("ai:cancel:*", why="cancellation flags"),
            KeyGrant("ai:levels", why="publishes the level registry"),
            KeyGrant("ai:workers", access="r", why="worker availability"),
        ),
        commands=(
            *["get", "set", "getdel", "del", "mget", "exists", "incrby", "decrby", "expire", "ttl", "pttl"],
            *["zadd", "zrem", "zcard", "zcount", "zrange", "zrangebyscore", "zremrangebyscore", "zpopmax"],
            *["hset", "hgetall"],
            *_AI_STREAMS,
            *["xread", "xrange", "xrevrange"],
        ),
    ),
    ServiceAcl(
        user="housify-ai",
        description="housify-ai (GPU workers and the AI internal API)",
        keys=(
            KeyGrant("ai:jobs:*", why="claim, reclaim and acknowledge jobs"),
            KeyGrant("ai:events:*", why="progress events"),
            KeyGrant("ai:results", why="publish results"),
            KeyGrant("ai:result:*", why="publish a result once"),
            # read-write although the worker only reads it: the start script (housify_ai.queue._BEGIN)
            # names it in KEYS, and Redis checks a script's KEYS as read-write (EVAL's key spec)
            KeyGrant("ai:cancel:*", why="cancellation flags"),
            KeyGrant("ai:levels", access="r", why="fair share between levels"),
            KeyGrant("ai:workers", why="heartbeats (worker status hash)"),
        ),
        commands=(
            *["set", "exists", "expire"],
            *["hset", "hdel", "hgetall"],
            *_AI_STREAMS,
            *["xclaim", "xpending", "xinfo|consumers", "xgroup|delconsumer"],
        ),
    ),
)

_USER = re.compile(r"^[a-z][a-z0-9-]*$")
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


def service(user: str) -> ServiceAcl:
    """The declared :class:`ServiceAcl` named ``user``; ``KeyError`` when there is none."""
    for acl in SERVICES:
        if acl.user == user:
            return acl
    raise KeyError(user)


def escape_prefix(prefix: str) -> str:
    """``prefix`` with Redis glob characters escaped, ending in ``:`` (as ``RedisKeys`` builds it)."""
    prefix = prefix if prefix.endswith(":") else prefix + ":"
    return _GLOB_SPECIAL.sub(r"\\\1", prefix)


def rules(acl: ServiceAcl, prefix: str) -> str:
    """The ACL rules of one user after its name (no password): ``resetkeys ... -@all +cmd ...``.

    ``%R~`` grants read-only key access (Redis >= 7.0). Keys are granted under ``prefix`` only;
    no pub/sub channels.
    """
    base = escape_prefix(prefix)
    parts = ["resetchannels", "resetkeys"]
    for grant in acl.keys:
        if grant.access not in ("rw", "r"):
            raise ValueError(f"{acl.user}: access of {grant.pattern!r} must be 'rw' or 'r'")
        parts.append(("~" if grant.access == "rw" else "%R~") + base + grant.pattern)
    parts.append("-@all")
    parts.extend("+" + command for command in (*CONNECTION_COMMANDS, *acl.commands))
    return " ".join(parts)


def render_rules(prefix: str, services: Sequence[ServiceAcl] = SERVICES) -> str:
    """One line per user: ``<user> <rules>`` (no password); what the NixOS module stores."""
    for acl in services:
        if not _USER.match(acl.user):
            raise ValueError(f"user name {acl.user!r} must match {_USER.pattern}")
    return "".join(f"{acl.user} {rules(acl, prefix)}\n" for acl in services)


def render_aclfile(
    prefix: str,
    passwords: Mapping[str, str],
    *,
    admin_password: str | None = None,
    services: Sequence[ServiceAcl] = SERVICES,
) -> str:
    """A Redis ``aclfile``: each service user with its password's SHA-256, and the ``default`` user.

    ``default`` is the operator's (full access) when ``admin_password`` is given, else off.

    Raises:
        ValueError: a service has no password in ``passwords``, or one is empty.
    """

    def secret(password: str, who: str) -> str:
        if not password:
            raise ValueError(f"the Redis password of {who} is empty")
        return "#" + hashlib.sha256(password.encode()).hexdigest()

    lines = [
        f"user default on {secret(admin_password, 'default')} ~* &* +@all"
        if admin_password is not None
        else "user default off resetkeys resetchannels -@all"
    ]
    for acl in services:
        if acl.user not in passwords:
            raise ValueError(f"no Redis password for user {acl.user}")
        lines.append(f"user {acl.user} on {secret(passwords[acl.user], acl.user)} {rules(acl, prefix)}")
    return "\n".join(lines) + "\n"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add ``redis-acl`` (the rules, no passwords) to ``housify-api``'s sub-commands; the NixOS module runs it."""
    cmd = sub.add_parser("redis-acl", help="print each Redis ACL user's rules (docs/deployment.md)")
    cmd.add_argument("--prefix", default="housify:", help="HOUSIFY_REDIS_PREFIX (default housify:)")
    cmd.set_defaults(func=lambda args: main(["rules", "--prefix", args.prefix]))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m housify_common.redis_acl rules --prefix P`` / ``aclfile --prefix P --password U=FILE ...``."""
    parser = argparse.ArgumentParser(prog="python -m housify_common.redis_acl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    rules_cmd = sub.add_parser("rules", help="one line per user: name and rules, no password")
    rules_cmd.add_argument("--prefix", default="housify:", help="HOUSIFY_REDIS_PREFIX (default housify:)")
    acl_cmd = sub.add_parser("aclfile", help="a Redis aclfile with the passwords' SHA-256")
    acl_cmd.add_argument("--prefix", default="housify:")
    acl_cmd.add_argument("--password", action="append", default=[], metavar="USER=FILE", help="per service user")
    acl_cmd.add_argument("--admin-password", metavar="FILE", help="the default user's password (else off)")
    args = parser.parse_args(argv)
    if args.what == "rules":
        sys.stdout.write(render_rules(args.prefix))
        return 0
    passwords = {}
    for item in args.password:
        user, sep, path = item.partition("=")
        if not sep:
            parser.error(f"--password {item!r}: expected USER=FILE")
        passwords[user] = Path(path).read_text().rstrip("\r\n")
    admin = Path(args.admin_password).read_text().rstrip("\r\n") if args.admin_password else None
    try:
        sys.stdout.write(render_aclfile(args.prefix, passwords, admin_password=admin))
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
