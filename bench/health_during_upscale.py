"""``GET /health`` of ``housify standalone`` while it runs an x4 upscale (target: p99 < 100 ms).

    .venv/bin/python bench/health_during_upscale.py [--size 1024x768] [--interval 0.05]

Starts the standalone on free loopback ports with a fresh data folder (SQLite, in-process Redis,
tiny models; an admin from ``HOUSIFY_SUPERUSER_*``), signs a user up and makes it Pro-Tier, uploads
a drawn picture of ``--size`` and asks for ``upscale`` x4. While the job runs, one thread asks
``/health`` every ``--interval`` seconds (each request waits as long as it takes) and records how
long each answer took. Prints the job's time and the latencies: count, p50, p99, max.

ncnn holds the GIL for a whole picture: run in the standalone's process (the code before the
upscaler moved into a child process) the API stops answering for the whole job, and the p99 is
the job's length.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from testkit import free_port  # noqa: E402 - after the path set-up

PASSWORD = "bench-password-42"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def drawing(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), (200, 190, 170))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, max(4, width // 32)):
        draw.line([(x, 0), (x + width // 8, height)], fill=(110, 70, 40), width=2)
    draw.rectangle([width // 8, height // 8, width // 2, height // 2], fill=(150, 190, 230), outline=(60, 50, 40))
    draw.text((width // 2, height // 10), "HOUSIFY", fill=(20, 20, 20))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def login(http: httpx.Client, email: str) -> dict[str, str]:
    token = http.post("/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD})
    token.raise_for_status()
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


class Prober(threading.Thread):
    """``GET /health`` every ``interval`` seconds until stopped; ``seconds`` per answer (or until it came)."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.seconds: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=None) as client:
            while not self.stop.is_set():
                started = time.perf_counter()
                client.get(self.url + "/health").raise_for_status()
                self.seconds.append(time.perf_counter() - started)
                self.stop.wait(self.interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1024x768", help="source picture, WIDTHxHEIGHT (x4 output <= 4096 px)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between /health requests")
    parser.add_argument("--timeout", type=float, default=3600, help="give up on the job after this many seconds")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    data = Path(tempfile.mkdtemp(prefix="housify-bench-health-"))
    port, ai_port, soap_port = free_port(), free_port(), free_port()
    admin = f"admin-{secrets.token_hex(3)}@example.com"
    env = {
        **os.environ,
        "HOUSIFY_DATA_DIR": str(data),
        "HOUSIFY_SUPERUSER_EMAIL": admin,
        "HOUSIFY_SUPERUSER_PASSWORD": PASSWORD,
        "HOUSIFY_LOG_LEVEL": "WARNING",
    }
    for name in ("HOUSIFY_DATABASE_URL", "HOUSIFY_REDIS_URL", "HOUSIFY_STORAGE_URL"):
        env.pop(name, None)  # the embedded default
    log = (data / "standalone.log").open("wb")
    command = [sys.executable, "-m", "housify.cli", "standalone", "--port", str(port)]
    command += ["--ai-port", str(ai_port), "--soap-port", str(soap_port)]
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=data)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=120) as http:
            deadline = time.monotonic() + 900
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if http.get("/health", timeout=2).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the standalone did not start; see {data / 'standalone.log'}")
                time.sleep(0.5)
            email = f"bench-{secrets.token_hex(3)}@example.com"
            http.post("/auth/register", json={"email": email, "password": PASSWORD}).raise_for_status()
            admin_auth = login(http, admin)
            users = http.get("/admin/users", params={"email": email}, headers=admin_auth).json()
            user_id = (users["items"] if isinstance(users, dict) else users)[0]["id"]
            http.patch(
                f"/admin/users/{user_id}", json={"subscription_level": "Pro-Tier"}, headers=admin_auth
            ).raise_for_status()
            auth = login(http, email)
            files = {"file": ("room.png", drawing(width, height), "image/png")}
            image = http.post("/images/uploads", files=files, headers=auth)
            image.raise_for_status()
            while (tasks := http.get("/tasks")).status_code != 404 and not any(  # 404: code before GET /tasks
                t["name"] == "upscale" and t["state"] == "offered" for t in tasks.json()["tasks"]
            ):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("no AI worker offers upscale")
                time.sleep(0.5)

            prober = Prober(url, args.interval)
            prober.start()
            started = time.monotonic()
            job = http.post(
                "/jobs", json={"task": "upscale", "source_image_id": image.json()["id"], "scale": 4}, headers=auth
            )
            job.raise_for_status()
            job_id = job.json()["id"]
            while True:
                answer = http.get(f"/jobs/{job_id}", headers=auth, timeout=None)
                if answer.status_code == 401:  # the access token lives 5 min; the job may take longer
                    auth = login(http, email)
                    continue
                answer.raise_for_status()
                state = answer.json()
                if state["status"] in ("succeeded", "failed", "cancelled"):
                    break
                if time.monotonic() - started > args.timeout:
                    raise RuntimeError(f"job {job_id} still {state['status']} after {args.timeout:.0f} s")
                time.sleep(1.0)
            took = time.monotonic() - started
            prober.stop.set()
            prober.join(timeout=600)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    ms = [s * 1000 for s in prober.seconds]
    print(f"upscale x4 of {width}x{height}: {state['status']} in {took:.1f} s {state.get('error') or ''}")
    print(
        f"GET /health during it: n={len(ms)} p50={percentile(ms, 50):.1f} ms p99={percentile(ms, 99):.1f} ms "
        f"max={max(ms):.1f} ms (target p99 < 100 ms)"
    )


if __name__ == "__main__":
    main()
