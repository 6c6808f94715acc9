"""Per-service Redis users (``housify_common.redis_acl``) on a real ``redis-server``.

A ``redis-server`` of its own on a loopback port loads the rendered ``aclfile``;
the API's and the AI worker's real code runs as their own users and must pass,
while what the other service owns (token revocations, the worker registry),
other prefixes and admin commands are refused (``NOPERM``). A static pass
checks that every key builder in ``src/`` falls under a declared pattern, so a
new key family cannot be left out of the declaration.
"""

from __future__ import annotations

import ast
import asyncio
import fnmatch
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import NoPermissionError

from housify_common import redis_acl
from housify_common.redis import RedisKeys, redis_from_url
from testkit import free_port

SRC = Path(__file__).resolve().parents[1] / "src"
PREFIX = "housify-acl[1]:"  # a glob character in the prefix must not widen the grant
PASSWORDS = {acl.user: f"pw-{acl.user}-{uuid.uuid4().hex}" for acl in redis_acl.SERVICES}
ADMIN = "admin-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def acl_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A ``redis-server`` on a free loopback port with the rendered aclfile; its port."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    root = tmp_path_factory.mktemp("redis-acl")
    aclfile = root / "users.acl"
    aclfile.write_text(redis_acl.render_aclfile(PREFIX, PASSWORDS, admin_password=ADMIN))
    port = free_port()
    proc = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--aclfile",
            str(aclfile),
        ],
        stdout=(root / "redis.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        admin = redis.Redis(port=port, password=ADMIN)
        deadline = time.monotonic() + 20
        while True:
            try:
                admin.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "redis.log").read_text()) from None
                time.sleep(0.05)
        admin.close()
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _url(port: int, user: str) -> str:
    return f"redis://{user}:{PASSWORDS[user]}@127.0.0.1:{port}/0"


@pytest.fixture
async def api(acl_redis: int) -> AsyncIterator[aioredis.Redis]:
    client = redis_from_url(_url(acl_redis, "housify-api"))
    yield client
    await client.aclose()


@pytest.fixture
async def ai(acl_redis: int) -> AsyncIterator[aioredis.Redis]:
    client = redis_from_url(_url(acl_redis, "housify-ai"))
    yield client
    await client.aclose()


async def test_api_user_runs_the_auth_paths(api: aioredis.Redis) -> None:
    from housify_api.auth.limiter import LoginLimiter
    from housify_api.auth.revocation import Revocations
    from housify_api.auth.service import AuthService
    from housify_api.media import ratelimit

    keys = RedisKeys(PREFIX)
    limiter = LoginLimiter(api, keys, max_account=10, max_ip=10, window_seconds=60)
    attempt = await limiter.reserve("Someone@example.org", "192.0.2.1")
    await limiter.succeeded(attempt)

    revocations = Revocations(api, keys, access_ttl_seconds=60)
    await revocations.revoke_token("jti-1", time.time() + 30)
    await revocations.revoke_sessions(["sid-1"])
    await revocations.revoke_user_tokens("user-1")
    assert await revocations.reason(jti="jti-1", sid="sid-2", sub="user-2", iat=time.time()) is not None

    for family in ("signup", "mail-to"):
        assert (await ratelimit.take(api, keys.key(family, "x"), 5)).allowed

    # the one-time tokens of every purpose (the real methods, on a stand-in for the rest of the service)
    service = SimpleNamespace(redis=api, keys=keys)
    for purpose in ("verify-email", "email-change", "password-reset"):
        user = uuid.uuid4()
        token = await AuthService._issue_one_time(service, purpose, user, 60, "a@example.org")  # type: ignore[arg-type]
        assert await AuthService._consume_one_time(service, purpose, token) == (user, "a@example.org")  # type: ignore[arg-type]


async def test_api_and_worker_run_a_job_each_as_its_own_user(api: aioredis.Redis, ai: aioredis.Redis) -> None:
    from housify_ai.contract import (
        JobResult,
        ProgressEvent,
        StartedEvent,
        StreamKeys,
        SucceededEvent,
        decode_request,
        enqueue_job,
        publish_levels,
        read_events,
        request_cancel,
    )
    from housify_ai.queue import JobQueue
    from housify_api.media import deadlines, ratelimit
    from housify_api.media.consumer import ResultsConsumer
    from housify_api.media.events import EventHub
    from housify_api.media.queue import Queue
    from housify_api.media.upload_limits import upload_slot
    from housify_api.settings import MediaSettings

    keys = RedisKeys(PREFIX)
    streams = StreamKeys(PREFIX)
    queue = Queue(client=api, streams=streams, keys=keys)
    user = uuid.uuid4()

    # API: limits, levels, enqueue, cancel flag, the event hub's wake-up stream
    async with upload_slot(api, keys, user, MediaSettings()):
        pass
    assert (await ratelimit.take(api, queue.hour_key(user), 5)).allowed
    assert (await ratelimit.take(api, keys.key("media", "assist-hour", user), 5)).allowed
    await publish_levels(api, streams, {"Free": 1.0})
    job_id = str(uuid.uuid4())
    request = {"job_id": job_id, "user_id": str(user), "task": "text2img", "prompt": "a room", "level": "Free"}
    await enqueue_job(api, streams, decode_request(json.dumps(request)))
    hub = EventHub(api, streams, per_user=2, total=4)
    await hub._wake()
    await hub.aclose()

    # AI worker: groups, claim, start, events, heartbeat, cancel check, result, ack; its status hash
    worker = JobQueue(ai, streams, "worker-1", visibility_timeout=5, block_ms=100)
    await worker.setup()
    delivery = await worker.claim()
    assert delivery is not None and delivery.job_id == job_id
    await worker.begin(job_id, StartedEvent(job_id=job_id, at=time.time()))
    assert not await worker.emit_and_check_cancel(
        job_id, [ProgressEvent(job_id=job_id, step=1, total=2, at=time.time())]
    )
    await worker.heartbeat()
    done = JobResult(job_id=job_id, status="succeeded", finished_at=time.time())
    assert await worker.finish(delivery, done, SucceededEvent(job_id=job_id, at=time.time()))
    await ai.hset(streams.workers(), "worker-1", b"{}")
    await worker.prune_consumers(idle_ms=0)
    await ai.hdel(streams.workers(), "worker-1")

    # API: events, availability, cancellation, the queue-deadline script, the results consumer
    assert [event.type for _, event in await read_events(api, streams, job_id)][-1] == "succeeded"
    assert (await queue.latest_event(uuid.UUID(job_id))) is not None
    await queue.live_workers()
    await request_cancel(api, streams, job_id)
    expire = api.register_script(deadlines._EXPIRE)
    other = str(uuid.uuid4())
    script_keys = [streams.result(other), streams.results(), streams.events(other)]
    assert await expire(keys=script_keys, args=[b"{}", b"{}", 60, 100, 100, 60, "result", "event"])

    recorded: list[JobResult] = []

    class Recording(ResultsConsumer):
        async def record(self, result: JobResult) -> None:
            recorded.append(result)

    consumer = Recording(queue, store=None, name="api-1", block_ms=50)  # type: ignore[arg-type]
    consumer.start()
    try:
        for _ in range(200):
            if recorded:
                break
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
    assert [result.job_id for result in recorded][:1] == [job_id]


async def test_worker_user_is_refused_what_it_does_not_own(ai: aioredis.Redis) -> None:
    keys = RedisKeys(PREFIX)
    refused = [
        ai.get(keys.key("revoked", "jti", "x")),  # the API's token revocations
        ai.set(keys.key("login", "acct", "x"), b"1"),
        ai.hset(keys.key("ai", "levels"), "Free", "1"),  # read-only for workers
        ai.set("other-prefix:ai:result:x", b"1"),
        ai.flushall(),
        ai.config_get("*"),
        ai.keys("*"),
        ai.execute_command("ACL", "LIST"),
    ]
    for call in refused:
        with pytest.raises(NoPermissionError):
            await call


async def test_api_user_is_refused_admin_commands_and_the_worker_registry(api: aioredis.Redis) -> None:
    for call in (
        api.flushall(),
        api.flushdb(),
        api.config_set("appendonly", "no"),
        api.hset(RedisKeys(PREFIX).key("ai", "workers"), "fake-worker", b"{}"),
        api.get("housify:revoked:jti:x"),  # the glob in PREFIX does not widen the grant
        api.scan(),
    ):
        with pytest.raises(NoPermissionError):
            await call


def test_a_wrong_password_is_refused(acl_redis: int) -> None:
    client = redis.Redis(port=acl_redis, username="housify-ai", password="wrong")
    with pytest.raises(redis.AuthenticationError):
        client.ping()


# ---- every key builder in src/ is declared ---------------------------------------------------


def _declared(key: str) -> list[str]:
    """The users whose patterns match ``key`` (relative to the prefix)."""
    return [
        acl.user for acl in redis_acl.SERVICES if any(fnmatch.fnmatchcase(key, grant.pattern) for grant in acl.keys)
    ]


def _key_families() -> dict[str, str]:
    """``key (placeholders as x) -> where`` for every ``*.key("literal", ...)`` and ``{….prefix}literal``."""
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(SRC)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                if name == "key" and node.args:
                    parts = [a.value if isinstance(a, ast.Constant) else "x" for a in node.args]
                    if all(isinstance(p, str) for p in parts):
                        found[":".join(str(p) for p in parts)] = where
            if isinstance(node, ast.JoinedStr) and len(node.values) >= 2:
                head, tail = node.values[0], node.values[1]
                if (
                    isinstance(head, ast.FormattedValue)
                    and isinstance(head.value, ast.Attribute)
                    and head.value.attr == "prefix"
                    and isinstance(tail, ast.Constant)
                ):
                    rest = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values[1:])
                    found[rest] = where
    return found


def test_every_key_builder_in_src_is_declared() -> None:
    from housify_ai.contract import StreamKeys

    families = _key_families()
    streams = StreamKeys("p:")
    for name in dir(StreamKeys):
        if not name.startswith("_") and callable(getattr(StreamKeys, name)):
            method = getattr(streams, name)
            key = method(*["x"] * (method.__code__.co_argcount - 1))
            families[key.removeprefix("p:")] = f"StreamKeys.{name}"
    # a purpose passed in a variable: every purpose the auth service uses
    for purpose in ("verify-email", "email-change", "password-reset"):
        families[f"{purpose}:x"] = "AuthService one-time tokens"
    undeclared = {key: where for key, where in families.items() if not _declared(key) and not key.startswith("x")}
    assert not undeclared, f"Redis keys no service may touch (add them to housify_common.redis_acl): {undeclared}"
    assert len(families) > 20  # the scan found the builders


def test_rendered_rules_name_each_service_once() -> None:
    text = redis_acl.render_rules("housify:")
    assert [line.split()[0] for line in text.splitlines()] == ["housify-api", "housify-ai"]
    assert "~housify:revoked:*" in text and "%R~housify:ai:workers" in text
    assert "+flushall" not in text and "+@" not in text
    with pytest.raises(ValueError, match="housify-ai"):
        redis_acl.render_aclfile("housify:", {"housify-api": "x"})


def test_housify_api_redis_acl_prints_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    """What the NixOS module runs at build time (``housify-api redis-acl --prefix …``)."""
    from housify_api.cli import main

    assert main(["redis-acl", "--prefix", "edge:"]) == 0
    assert capsys.readouterr().out == redis_acl.render_rules("edge:")
