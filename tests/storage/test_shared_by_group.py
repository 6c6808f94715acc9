"""The API and an AI worker as two system users sharing one storage directory by group.

As the NixOS units run them: each service its own user, both in one group,
``UMask=0007``, a setgid 2770 storage directory. An upload written by the
API must be readable by the worker (img2img reads it), and the worker's
result readable by the API (and nginx, in the group). With files made 0600
(``tempfile.mkstemp``'s mode) the worker cannot open the upload and the job
fails. Needs root to create the users (CI runs as root).
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apikit import picture
from testkit import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="creates system users: needs root (CI runs as root)"),
]

GROUP = "housify-st"
USERS = {"api": "housify-st-api", "ai": "housify-st-ai"}
UMASK = 0o007


def _exists(kind: str, name: str) -> bool:
    try:
        (grp.getgrnam if kind == "group" else pwd.getpwnam)(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module")
def accounts() -> Iterator[dict[str, str]]:
    """The shared group and two system users (made with groupadd/useradd when missing, removed after)."""
    made: list[tuple[str, str]] = []
    if not _exists("group", GROUP):
        subprocess.run(["groupadd", "--system", GROUP], check=True)
        made.append(("group", GROUP))
    for name in USERS.values():
        if not _exists("user", name):
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--gid",
                    GROUP,
                    name,
                ],
                check=True,
            )
            made.append(("user", name))
    try:
        yield USERS
    finally:
        for kind, name in reversed(made):
            subprocess.run(["userdel" if kind == "user" else "groupdel", name], check=False)


@pytest.fixture(scope="module")
def python_reachable() -> Iterator[list[Path]]:
    """Let other users traverse to this Python, its standard library and the import path.

    Here the interpreter may live under root's 0700 home (pyenv); a service user
    then cannot reach its standard library. Each folder on the way that others
    cannot traverse gets ``o+x`` (traverse, not list) for the test and its mode back after.
    """
    needed = {Path(os.path.realpath(sys.executable)), Path(sys.base_prefix), Path(sys.prefix)}
    needed |= {Path(p) for p in sys.path if p and Path(p).is_dir()}
    changed: list[tuple[Path, int]] = []
    for path in sorted(needed):
        for folder in [*reversed(path.parents), path]:
            mode = folder.stat().st_mode
            if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH and folder not in [c for c, _ in changed]:
                changed.append((folder, stat.S_IMODE(mode)))
                folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        yield [folder for folder, _ in changed]
    finally:
        for folder, mode in changed:
            folder.chmod(mode)


@pytest.fixture(scope="module")
def layout(accounts: dict[str, str], python_reachable: list[Path]) -> Iterator[dict[str, Path]]:
    """Directories as the units have them; outside pytest's 0700 tmp tree so the users can reach them."""
    base = Path(tempfile.mkdtemp(prefix="housify-shared-", dir="/tmp"))
    base.chmod(0o755)
    api, ai = pwd.getpwnam(accounts["api"]), pwd.getpwnam(accounts["ai"])
    gid = grp.getgrnam(GROUP).gr_gid
    dirs = {"base": base}
    for name, owner, mode in (("storage", api.pw_uid, 0o2770), ("api", api.pw_uid, 0o750), ("ai", ai.pw_uid, 0o750)):
        path = base / name
        path.mkdir()
        os.chown(path, owner, gid)
        path.chmod(mode)
        dirs[name] = path
    dirs["models"] = base / "models"
    subprocess.run(
        [sys.executable, "-m", "housify_ai.cli", "models", "build-tiny", str(dirs["models"])],
        check=True,
        capture_output=True,
        timeout=300,
    )
    for path in [dirs["models"], *dirs["models"].rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        yield dirs
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _spawn(argv: list[str], user: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``argv`` as ``user:GROUP`` with the units' umask. setpriv(1) drops the ids: Popen(user=...) fails
    to exec a Python that lives under root's 0700 home (pyenv) where setpriv succeeds."""
    drop = ["setpriv", f"--reuid={user}", f"--regid={GROUP}", "--init-groups", "--"]
    return subprocess.Popen(
        [*drop, *argv],
        env=env,
        umask=UMASK,
        cwd="/",
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_api_and_worker_as_two_users_share_pictures_by_group(migrated_db: str, layout: dict[str, Path]) -> None:
    port = free_port()
    common = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "PICCOLO_CONF": "housify.piccolo_conf",
        "HOUSIFY_DATABASE_URL": os.environ["HOUSIFY_DATABASE_URL"],
        "HOUSIFY_REDIS_URL": os.environ["HOUSIFY_REDIS_URL"],
        "HOUSIFY_REDIS_PREFIX": os.environ["HOUSIFY_REDIS_PREFIX"] + f"shared{port}:",
        "HOUSIFY_STORAGE_DIR": str(layout["storage"]),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    api_env = {**common, "HOUSIFY_DATA_DIR": str(layout["api"]), "HOUSIFY_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    ai_env = {
        **common,
        "HOUSIFY_DATA_DIR": str(layout["ai"]),
        "HF_HOME": str(layout["ai"] / "hf"),
        "HOUSIFY_AI_DIFFUSION_MODEL": str(layout["models"] / "tiny-sd"),
        "HOUSIFY_AI_DEVICE": "cpu",
        "HOUSIFY_AI_RUN_LOG": "false",
        "HOUSIFY_AI_CONSUMER": f"shared-{port}",
    }
    logs = {name: layout["base"] / f"{name}.log" for name in ("api", "ai")}
    procs = [
        _spawn(
            [sys.executable, "-m", "housify_api.cli", "serve", "--port", str(port), "--no-access-log"],
            USERS["api"],
            api_env,
            logs["api"],
        ),
        _spawn([sys.executable, "-m", "housify_ai.cli", "worker"], USERS["ai"], ai_env, logs["ai"]),
    ]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            await _wait_ready(http, procs, logs)
            await _story(http, layout, logs)
    finally:
        for proc in procs:
            _stop(proc)


async def _wait_ready(http: httpx.AsyncClient, procs: list[subprocess.Popen[bytes]], logs: dict[str, Path]) -> None:
    deadline = time.monotonic() + 120
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/health")).status_code == 200:
                return
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise RuntimeError(
                "services did not start:\n" + "\n".join(f"--- {n}\n{p.read_text()[-2000:]}" for n, p in logs.items())
            )
        await asyncio.sleep(0.3)


def _owner_group_mode(path: Path) -> tuple[str, str, int]:
    info = path.stat()
    return pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name, stat.S_IMODE(info.st_mode)


async def _story(http: httpx.AsyncClient, layout: dict[str, Path], logs: dict[str, Path]) -> None:
    email, password = f"shared-{time.time_ns()}@example.com", "a-long-example-password-7"
    assert (await http.post("/auth/register", json={"email": email, "password": password})).status_code == 201
    token = (await http.post("/auth/token", data={"username": email, "password": password})).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    photo = await http.post(
        "/images/uploads", files={"file": ("room.png", picture(64, 64), "image/png")}, headers=headers
    )
    assert photo.status_code == 201, photo.text
    uploaded = [p for p in (layout["storage"] / "images").iterdir()]
    assert len(uploaded) == 1
    # the API's file: its user, the shared group (setgid directory), 0660 under UMask=0007
    assert _owner_group_mode(uploaded[0]) == (USERS["api"], GROUP, 0o660)
    assert _owner_group_mode(layout["storage"] / "images")[1:] == (GROUP, 0o2770)

    job = await http.post(
        "/jobs",
        json={
            "task": "img2img",
            "source_image_id": photo.json()["id"],
            "prompt": "a brighter room",
            "width": 64,
            "height": 64,
            "steps": 4,
            "strength": 0.6,
        },
        headers=headers,
    )
    assert job.status_code == 202, job.text
    deadline = time.monotonic() + 180
    while (state := (await http.get(f"/jobs/{job.json()['id']}", headers=headers)).json())["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline, f"job still {state['status']}:\n{logs['ai'].read_text()[-3000:]}"
        await asyncio.sleep(0.5)
    assert state["status"] == "succeeded", f"{state.get('error')}\n{logs['ai'].read_text()[-3000:]}"

    # the worker's result, read by the API as the other user
    content = await http.get(f"/images/{state['image_id']}/content", headers=headers)
    assert content.status_code == 200 and content.headers["content-type"] == "image/png"
    results = [p for p in (layout["storage"] / "images").iterdir() if p not in uploaded]
    assert len(results) == 1 and results[0].read_bytes() == content.content
    assert _owner_group_mode(results[0]) == (USERS["ai"], GROUP, 0o660)
    thumb = await http.get(f"/images/{state['image_id']}/content", params={"size": "thumb"}, headers=headers)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
