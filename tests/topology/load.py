"""Load for the fault runs, and the audit that decides whether anything accepted was lost or doubled.

:func:`submit_jobs` sends text2img jobs from many users through nginx and
keeps what was accepted (202) apart from what was refused (and how).
:func:`audit` then reads the truth from PostgreSQL, Redis and the store:

* every accepted job is in a final state (succeeded, or failed/cancelled with a reason);
* each job's event stream holds exactly one terminal event, and the results stream one result;
* each succeeded job has one image row, no image row belongs to two jobs or none,
  and every recorded image's file is in the store.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from .clients import SMALL, User
from .stack import Topology

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Submitted:
    accepted: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)  # "503", "ConnectError" ...
    latencies: list[float] = field(default_factory=list)

    def merge(self, other: Submitted) -> None:
        self.accepted += other.accepted
        self.refused.update(other.refused)
        self.latencies += other.latencies


async def submit_one(http: httpx.AsyncClient, user: User, n: int, out: Submitted, **body: Any) -> None:
    started = time.monotonic()
    try:
        response = await http.post(
            "/jobs", json={"prompt": f"a bright attic room, take {n}", **SMALL, **body}, headers=user.headers
        )
    except httpx.HTTPError as exc:
        out.refused[type(exc).__name__] += 1
        return
    out.latencies.append(time.monotonic() - started)
    if response.status_code == 202:
        out.accepted.append(response.json()["id"])
    else:
        out.refused[str(response.status_code)] += 1


async def submit_jobs(http: httpx.AsyncClient, users: list[User], per_user: int, *, pause: float = 0.0) -> Submitted:
    """``per_user`` jobs from each user, the users in parallel, each user's jobs one after another."""
    out = Submitted()

    async def one_user(user: User) -> None:
        for n in range(per_user):
            await submit_one(http, user, n, out)
            if pause:
                await asyncio.sleep(pause)

    await asyncio.gather(*(one_user(u) for u in users))
    return out


async def wait_final(topo: Topology, job_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Poll PostgreSQL until every job is final or ``timeout`` passes; returns the rows by id."""
    deadline = time.monotonic() + timeout
    while True:
        conn = await topo.db()
        try:
            rows = await conn.fetch(
                "SELECT id::text, status, error, image::text AS image FROM media_jobs WHERE id = ANY($1::uuid[])",
                job_ids,
            )
        finally:
            await conn.close()
        jobs = {r["id"]: dict(r) for r in rows}
        if all(jobs.get(j, {}).get("status") in TERMINAL for j in job_ids) or time.monotonic() > deadline:
            return jobs
        await asyncio.sleep(1.0)


@dataclass
class Audit:
    statuses: Counter[str]
    failed_without_reason: list[str]
    not_final: list[str]
    terminal_events: Counter[int]  # how many jobs had 0, 1, 2 ... terminal events
    results: Counter[int]  # how many jobs had 0, 1, 2 ... entries in the results stream
    images: int
    images_without_job: int
    jobs_sharing_an_image: int
    missing_files: list[str]
    taken_over: int  # jobs whose result came from a later delivery (a worker died holding it)
    failure_reasons: Counter[str]

    def summary(self) -> str:
        return (
            f"jobs {dict(self.statuses)}; not final {len(self.not_final)}; failed without reason {len(self.failed_without_reason)}; "
            f"terminal events per job {dict(self.terminal_events)}; results per job {dict(self.results)}; "
            f"images {self.images} (without job {self.images_without_job}, shared {self.jobs_sharing_an_image}, "
            f"file missing {len(self.missing_files)}); taken over after a worker died {self.taken_over}"
            + (f"; failure reasons {dict(self.failure_reasons)}" if self.failure_reasons else "")
        )

    def assert_exactly_once(self, accepted: int) -> None:
        assert sum(self.statuses.values()) == accepted, self.summary()
        assert not self.not_final, self.summary()
        assert not self.failed_without_reason, self.summary()
        assert self.terminal_events == Counter({1: accepted}), self.summary()
        assert self.results == Counter({1: accepted}), self.summary()
        assert self.images == self.statuses["succeeded"], self.summary()
        assert self.images_without_job == 0 and self.jobs_sharing_an_image == 0, self.summary()
        assert not self.missing_files, self.summary()


async def audit(topo: Topology, job_ids: list[str], users: list[User]) -> Audit:
    from housify_ai.contract import EVENT_FIELD, RESULT_FIELD, StreamKeys, decode_event, decode_result

    jobs = await wait_final(topo, job_ids, timeout=0)
    conn = await topo.db()
    try:
        images = await conn.fetch(
            "SELECT i.id::text, i.storage_key, (SELECT count(*) FROM media_jobs j WHERE j.image = i.id) AS jobs "
            "FROM media_images i WHERE i.owner = ANY($1::uuid[]) AND i.kind = 'generated'",
            [u.id for u in users],
        )
    finally:
        await conn.close()
    keys = StreamKeys("housify:")
    redis = await topo.redis()
    try:
        terminal: Counter[int] = Counter()
        for job_id in job_ids:
            entries = await redis.xrange(keys.events(job_id))
            terminal[sum(decode_event(fields[EVENT_FIELD.encode()]).type in TERMINAL for _, fields in entries)] += 1
        per_job: Counter[str] = Counter()
        taken_over = 0
        wanted = set(job_ids)
        for _, fields in await redis.xrange(keys.results()):
            result = decode_result(fields[RESULT_FIELD.encode()])
            if result.job_id in wanted:
                per_job[result.job_id] += 1
                taken_over += result.attempts > 1
        results = Counter(per_job[j] for j in job_ids)
    finally:
        await redis.aclose()
    return Audit(
        statuses=Counter(j["status"] for j in jobs.values()),
        failed_without_reason=[i for i, j in jobs.items() if j["status"] != "succeeded" and not j["error"]],
        not_final=[j for j in job_ids if jobs.get(j, {}).get("status") not in TERMINAL],
        terminal_events=terminal,
        results=results,
        images=len(images),
        images_without_job=sum(1 for i in images if i["jobs"] == 0),
        jobs_sharing_an_image=sum(1 for i in images if i["jobs"] > 1),
        missing_files=[i["storage_key"] for i in images if not await topo.store_has(i["storage_key"])],
        taken_over=taken_over,
        failure_reasons=Counter((j["error"] or "")[:80] for j in jobs.values() if j["status"] != "succeeded"),
    )
