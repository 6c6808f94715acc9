"""Faults under load, each with its counts printed and asserted (issue 10).

* 200 text2img jobs from 20 users while the worker on ``gpu-1`` is SIGKILLed
  every few seconds and restarted: every accepted job ends exactly once, no
  picture is recorded twice, none is lost;
* one API instance SIGKILLed mid-load: only requests in flight on it fail
  (and a PATCH nginx wrote to a pooled connection of the dead instance in
  the moment after the kill, which nginx never resends), nginx routes the rest;
* Redis restarted, then PostgreSQL restarted, during load: 503 while down,
  recovery without restarting any Housify process, no accepted job lost.

Counts go to stdout (``pytest -s`` shows them) and into ``FAULT_COUNTS`` for
``bench/topology_content.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from typing import Any, NamedTuple

import httpx
import pytest

from .clients import User, photo, sign_up, upload
from .load import Submitted, audit, submit_jobs, submit_one, wait_final
from .stack import Topology

JOBS_USERS = int(os.environ.get("HOUSIFY_TOPOLOGY_USERS", "20"))
JOBS_PER_USER = int(os.environ.get("HOUSIFY_TOPOLOGY_JOBS_PER_USER", "10"))
#: Seconds the gpu-1 worker lives after it is ready before the next SIGKILL.
KILL_EVERY = 3.0
#: The SIGKILL test submits its jobs in this many waves, the n-th after the n-th kill.
KILL_WAVES = 4
FAULT_COUNTS: dict[str, dict[str, Any]] = {}


async def _users(topo: Topology, http: httpx.AsyncClient, n: int) -> list[User]:
    db = await topo.db()
    try:
        # one after another: one asyncpg connection runs one statement at a time
        return [await sign_up(http, level="Pro-Tier", db=db) for _ in range(n)]
    finally:
        await db.close()


async def test_worker_sigkilled_every_few_seconds(topo: Topology) -> None:
    victim = topo.services["worker-gpu-1-worker-0"]
    kills = restarts = 0
    restarted = asyncio.Condition()
    done = asyncio.Event()

    async def killer() -> None:
        nonlocal kills, restarts
        while not done.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), KILL_EVERY)
            if done.is_set():
                break
            victim.kill()
            kills += 1
            victim.spawn()
            await victim.wait_ready()
            async with restarted:
                restarts += 1
                restarted.notify_all()

    async with topo.client(max_connections=JOBS_USERS, http2=False) as http:
        users = await _users(topo, http, JOBS_USERS)
        started = time.monotonic()
        chaos = asyncio.create_task(killer())
        try:
            # The jobs go in waves, each as the killed worker is back (it is killed again 3 s
            # later, holding jobs): on a quiet machine the whole batch could otherwise finish
            # within two kill cycles (a restart takes ~15 s), and the fault must overlap the work
            # however fast the machine is.
            submitted = Submitted()
            size, extra = divmod(JOBS_PER_USER, KILL_WAVES)
            waves = [size + (n < extra) for n in range(KILL_WAVES)]
            for wave, per_user in enumerate(waves):
                async with restarted:
                    await asyncio.wait_for(restarted.wait_for(lambda w=wave: restarts >= w), timeout=180)
                submitted.merge(await submit_jobs(http, users, per_user))
            await wait_final(topo, submitted.accepted, timeout=420)
        finally:
            done.set()
            await chaos
        elapsed = time.monotonic() - started
    result = await audit(topo, submitted.accepted, users)
    counts = {
        "users": JOBS_USERS,
        "submitted": JOBS_USERS * JOBS_PER_USER,
        "accepted": len(submitted.accepted),
        "refused": dict(submitted.refused),
        "worker_kills": kills,
        "seconds": round(elapsed, 1),
        **{f"jobs_{k}": v for k, v in result.statuses.items()},
        "images": result.images,
        "terminal_events_per_job": dict(result.terminal_events),
    }
    FAULT_COUNTS["worker_kills"] = counts
    print(f"\nworker SIGKILL run: {counts}\n  audit: {result.summary()}")
    assert kills >= 3, f"only {kills} kills: the run ended before the fault did anything"
    assert result.taken_over >= 1, f"no job was taken over from a killed worker: {result.summary()}"
    assert len(submitted.accepted) == JOBS_USERS * JOBS_PER_USER, submitted.refused
    result.assert_exactly_once(len(submitted.accepted))
    assert result.statuses["succeeded"] >= 0.9 * len(submitted.accepted), result.summary()


#: Seconds after an API instance's SIGKILL during which nginx may still pick one of its pooled
#: (keepalive) upstream connections before it reads that connection's close: a PATCH or POST
#: written there fails with 502, because nginx does not pass a non-idempotent request that was
#: already sent to the next server (https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_next_upstream).
STALE_POOL_WINDOW = 1.0
NON_IDEMPOTENT = frozenset({"POST", "PATCH", "LOCK"})


class Call(NamedTuple):
    start: float
    end: float
    outcome: str
    method: str


class Timeline:
    """Each request's start, end, outcome (status code or exception name) and method, for in-flight accounting."""

    def __init__(self) -> None:
        self.records: list[Call] = []

    async def call(self, coro: Any, method: str = "GET") -> str:
        start = time.monotonic()
        try:
            response = await coro
            outcome = str(response.status_code)
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        self.records.append(Call(start, time.monotonic(), outcome, method))
        return outcome

    def between(self, t0: float, t1: float) -> Counter[str]:
        """Outcomes of the requests that started in [t0, t1)."""
        return Counter(c.outcome for c in self.records if t0 <= c.start < t1)

    def in_flight(self, at: float) -> int:
        return sum(1 for c in self.records if c.start <= at <= c.end)


def _ok(outcome: str) -> bool:
    return outcome.isdigit() and int(outcome) < 400


async def test_api_instance_killed_mid_load(topo: Topology) -> None:
    victim = topo.services["api-1"]
    nginx_log = topo.base / "logs" / "nginx-error.log"
    log_before = nginx_log.read_text().count("127.0.0.1:8101") if nginx_log.exists() else 0
    timeline = Timeline()
    concurrency, duration, kill_at = 16, 12.0, 4.0
    # HTTP/1.1, one connection per client: httpx's HTTP/2 fails the streams in flight when nginx
    # ends a connection with GOAWAY after keepalive_requests (1000), which would hide the fault's own count.
    async with topo.client(max_connections=concurrency, http2=False) as http:
        users = await _users(topo, http, 4)
        t0 = time.monotonic()

        async def client(n: int) -> None:
            user = users[n % len(users)]
            i = 0
            while time.monotonic() - t0 < duration:
                i += 1
                if i % 2:
                    await timeline.call(http.get("/users/me", headers=user.headers))
                else:
                    await timeline.call(
                        http.patch("/users/me", json={"full_name": f"Load {n}-{i}"}, headers=user.headers),
                        "PATCH",
                    )

        async def chaos() -> float:
            await asyncio.sleep(kill_at)
            at = time.monotonic()
            victim.kill()
            return at

        killed_at, *_ = await asyncio.gather(chaos(), *(client(n) for n in range(concurrency)))
        in_flight = timeline.in_flight(killed_at)
        victim.spawn()  # back into rotation, as systemd's Restart= would
        await victim.wait_ready()
        after_restart = Counter(
            [await timeline.call(http.get("/users/me", headers=users[0].headers)) for _ in range(20)]
        )
    failures = [c for c in timeline.records if not _ok(c.outcome)]
    # nginx saw the dead instance (refused connections, upstream closed) and passed the requests on.
    nginx_saw = nginx_log.read_text().count("127.0.0.1:8101") - log_before
    failed_in_flight = [c for c in failures if c.start <= killed_at <= c.end]
    stale_pool = [
        c
        for c in failures
        if c.method in NON_IDEMPOTENT and c.outcome == "502" and 0 < c.start - killed_at <= STALE_POOL_WINDOW
    ]
    counts = {
        "requests": len(timeline.records),
        "failed": len(failures),
        "failed_in_flight_at_kill": len(failed_in_flight),
        "failed_on_stale_pooled_connection": len(stale_pool),
        "in_flight_at_kill": in_flight,
        "outcomes": dict(Counter(c.outcome for c in timeline.records)),
        "after_restart": dict(after_restart),
        "nginx_error_log_lines_on_dead_upstream": nginx_saw,
    }
    FAULT_COUNTS["api_instance_kill"] = counts
    print(f"\nAPI instance SIGKILL run: {counts}")
    assert len(timeline.records) > 100 and nginx_saw > 0, counts
    unexplained = [c for c in failures if c not in failed_in_flight and c not in stale_pool]
    assert not unexplained, (
        f"requests failed that were not in flight at the kill: {unexplained} (killed at {killed_at})"
    )
    assert len(failed_in_flight) <= in_flight, counts
    ok_after = sum(1 for c in timeline.records if c.start > killed_at and _ok(c.outcome))
    assert ok_after > 50, "nginx did not route the rest"
    assert after_restart == Counter({"200": 20}), after_restart


async def test_redis_and_postgresql_restarted_under_load(topo: Topology) -> None:
    redis, pg = topo.services["redis"], topo.services["postgresql"]
    housify = {
        n: (s.proc.pid, s.starts)
        for n, s in topo.services.items()
        if n.startswith(("api-", "worker-", "ai-api-", "soap"))
    }
    timeline = Timeline()
    submitted = Submitted()
    windows: dict[str, tuple[float, float]] = {}
    stop = asyncio.Event()
    async with topo.client(max_connections=32, http2=False) as http:
        users = await _users(topo, http, 8)

        async def jobs(user: User) -> None:
            n = 0
            while not stop.is_set():
                n += 1
                before = len(submitted.accepted) + sum(submitted.refused.values())
                await submit_one(http, user, n, submitted)
                if len(submitted.accepted) + sum(submitted.refused.values()) == before:  # pragma: no cover - defensive
                    break
                await asyncio.sleep(0.4)

        async def readiness() -> None:
            while not stop.is_set():
                await timeline.call(http.get("/ready"))
                await timeline.call(http.get("/users/me", headers=users[0].headers))
                await asyncio.sleep(0.1)

        async def outage(name: str, svc: Any, sig: int) -> None:
            start = time.monotonic()
            svc.stop(sig, timeout=30)
            await asyncio.sleep(4.0)
            await svc.start()
            windows[name] = (start, time.monotonic())

        async def chaos() -> None:
            await asyncio.sleep(3.0)
            await outage("redis", redis, signal.SIGTERM)  # graceful: the append-only file is kept
            await asyncio.sleep(4.0)
            await outage("postgresql", pg, signal.SIGINT)  # "fast" shutdown
            await asyncio.sleep(5.0)
            stop.set()

        t0 = time.monotonic()
        await asyncio.gather(chaos(), readiness(), *(jobs(u) for u in users))
        final = await wait_final(topo, submitted.accepted, timeout=180)
    result = await audit(topo, submitted.accepted, users)
    phases = {name: dict(timeline.between(*window)) for name, window in windows.items()}
    recovered = dict(timeline.between(windows["postgresql"][1] + 1.0, float("inf")))
    counts = {
        "seconds": round(time.monotonic() - t0, 1),
        "jobs_accepted": len(submitted.accepted),
        "jobs_refused": dict(submitted.refused),
        "while_redis_down": phases["redis"],
        "while_postgresql_down": phases["postgresql"],
        "after_recovery": recovered,
        **{f"jobs_{k}": v for k, v in result.statuses.items()},
    }
    FAULT_COUNTS["redis_postgresql_restart"] = counts
    print(f"\nRedis + PostgreSQL restart run: {counts}\n  audit: {result.summary()}")
    every = Counter(c.outcome for c in timeline.records) + submitted.refused
    assert "500" not in every, every
    for name in ("redis", "postgresql"):
        assert phases[name].get("503", 0) > 0, f"no 503 while {name} was down: {phases[name]}"
    assert set(recovered) == {"200"}, recovered
    still = {n: (s.proc.pid, s.starts) for n, s in topo.services.items() if n in housify}
    assert still == housify and all(topo.services[n].running for n in housify), "a Housify process was restarted"
    result.assert_exactly_once(len(submitted.accepted))
    assert result.statuses["succeeded"] == len(submitted.accepted) == len(final), result.summary()


async def test_s3_store_stopped(topo: Topology) -> None:
    """Store down: uploads answer 503 and record nothing; jobs wait or fail with a reason; nothing recorded is missing."""
    if topo.store != "s3":
        pytest.skip("the directory store cannot be stopped (HOUSIFY_TOPOLOGY_STORE=dir)")
    s3 = topo.services["s3"]
    async with topo.client(http2=False) as http:
        db = await topo.db()
        try:
            user = await sign_up(http, level="Pro-Tier", db=db)
        finally:
            await db.close()
        before = await upload(http, user, photo(), title="before the outage")
        assert before.status_code == 201, before.text
        rows_before = await _image_rows(topo, user)
        s3.stop(signal.SIGTERM, timeout=10)
        down_at = time.monotonic()
        try:
            uploads = Counter([str((await upload(http, user, photo(), title="during")).status_code) for _ in range(5)])
            picture = await http.get(f"/images/{before.json()['id']}/content", headers=user.headers)
            content = picture.status_code
            submitted = Submitted()
            for n in range(6):
                await submit_one(http, user, n, submitted)
            await asyncio.sleep(max(0.0, 8.0 - (time.monotonic() - down_at)))
            rows_during = await _image_rows(topo, user)
        finally:
            await s3.start()
        final = await wait_final(topo, submitted.accepted, timeout=180)
        after = await upload(http, user, photo(), title="after the outage")
    result = await audit(topo, submitted.accepted, [user])
    counts = {
        "uploads_while_down": dict(uploads),
        "content_while_down": content,
        "jobs_accepted_while_down": len(submitted.accepted),
        "jobs_refused_while_down": dict(submitted.refused),
        "image_rows_before": rows_before,
        "image_rows_while_down": rows_during,
        "upload_after_restart": after.status_code,
        **{f"jobs_{k}": v for k, v in result.statuses.items()},
    }
    FAULT_COUNTS["s3_stopped"] = counts
    print(f"\nS3 store stopped: {counts}\n  audit: {result.summary()}")
    assert uploads == Counter({"503": 5}), uploads
    assert content == 503 and picture.headers.get("retry-after") == "5", (content, picture.headers)
    assert rows_during == rows_before, "a picture was recorded while the store was down"
    assert after.status_code == 201, after.text
    assert len(final) == len(submitted.accepted)
    result.assert_exactly_once(len(submitted.accepted))
    # Results wait for the store (the worker retries) rather than fail: the outage is shorter than
    # the retry budget (RETRY_LIMIT deliveries, VISIBILITY_TIMEOUT apart).
    assert result.statuses == Counter({"succeeded": len(submitted.accepted)}), result.summary()


async def _image_rows(topo: Topology, user: User) -> int:
    conn = await topo.db()
    try:
        return await conn.fetchval("SELECT count(*) FROM media_images WHERE owner = $1", user.id)
    finally:
        await conn.close()
