"""System users and service processes of the topology test.

Each service runs as its own system user inside its host's namespace, with
the umask and groups the NixOS units give it: API and AI users have the shared
storage group as primary group, nginx joins it, SOAP and the S3 store have
groups of their own. Users are made with useradd(8) (names start with
:data:`USER_PREFIX`, comment :data:`GECOS`) and removed by :func:`sweep_users`,
which touches no account it did not make.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from .netns import Netns, run

USER_PREFIX = "hfyt-"
GECOS = "housify topology test"
#: The storage group every Housify service shares (``services.housify-api.group``).
STORAGE_GROUP = USER_PREFIX + "housify"
#: The services' umask: files they write are group-readable and -writable, never world (UMask=0007).
SERVICE_UMASK = 0o007


@dataclass(frozen=True)
class Account:
    name: str
    group: str


#: role -> account. API and AI share the storage group; nginx gets it as a supplementary group.
ACCOUNTS = {
    "api": Account(USER_PREFIX + "api", STORAGE_GROUP),
    "ai": Account(USER_PREFIX + "ai", STORAGE_GROUP),
    "soap": Account(USER_PREFIX + "soap", USER_PREFIX + "soap"),
    "s3": Account(USER_PREFIX + "s3", USER_PREFIX + "s3"),
    "nginx": Account(USER_PREFIX + "nginx", USER_PREFIX + "nginx"),
}


def create_users() -> dict[str, Account]:
    """groupadd/useradd the accounts (system, no home, no login shell); returns :data:`ACCOUNTS`."""
    groups = {STORAGE_GROUP} | {a.group for a in ACCOUNTS.values()}
    for group in sorted(groups):
        run("groupadd", "--system", group)
    for role, account in ACCOUNTS.items():
        extra = ["-G", STORAGE_GROUP] if role == "nginx" else []
        run(
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            GECOS,
            "-g",
            account.group,
            *extra,
            account.name,
        )
    return ACCOUNTS


def sweep_users() -> list[str]:
    """userdel every account with our prefix and comment, then groupdel our groups; returns the names."""
    removed = []
    for entry in pwd.getpwall():
        if entry.pw_name.startswith(USER_PREFIX) and entry.pw_gecos == GECOS:
            run("userdel", entry.pw_name, check=False)
            removed.append(entry.pw_name)
    import grp

    for group in grp.getgrall():
        unused = not group.gr_mem and not any(p.pw_gid == group.gr_gid for p in pwd.getpwall())
        if group.gr_name.startswith(USER_PREFIX) and unused:
            run("groupdel", group.gr_name, check=False)
    return removed


def chown(path: Path, user: str, group: str, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, pwd.getpwnam(user).pw_uid, _gid(group))
    path.chmod(mode)
    return path


def _gid(group: str) -> int:
    import grp

    return grp.getgrnam(group).gr_gid


def _needed_paths() -> list[Path]:
    """Paths a service user must reach: the interpreter's installation, the virtualenv, the source tree."""
    import housify_common

    return [
        Path(os.path.realpath(sys.executable)).parent.parent,
        Path(sys.prefix),
        Path(housify_common.__file__).resolve().parents[2],
        *(Path(p) for p in sys.path if p.endswith("site-packages")),
    ]


def exposure_script() -> str:
    """Shell lines that make :func:`_needed_paths` reachable for a system user, or ``""`` when they already are.

    A developer's or CI's Python often lives under ``/root`` (mode 0700). The
    service processes run in a mount namespace of their own (``ip netns exec``
    makes one), so there each closed ancestor is covered with an empty tmpfs
    and only the needed subtrees are bind-mounted back: the rest of that home
    (keys, tokens) stays invisible to the service users, and the machine's
    permissions are not touched.
    """
    closed: dict[Path, set[Path]] = {}
    for path in _needed_paths():
        parts = path.parts
        for depth in range(1, len(parts)):
            ancestor = Path(*parts[:depth])
            if not os.stat(ancestor).st_mode & 0o001:
                closed.setdefault(ancestor, set()).add(Path(*parts[: depth + 1]))
                break
    lines = []
    for n, (ancestor, children) in enumerate(sorted(closed.items())):
        for i, child in enumerate(sorted(children)):
            lines.append(
                f"s{n}_{i}=$(mktemp -d /run/hfyt-expose.XXXXXX) && mount --bind {shlex.quote(str(child))} $s{n}_{i}"
            )
        lines.append(f"mount -t tmpfs -o mode=0755,size=64k housify-expose {shlex.quote(str(ancestor))}")
        for i, child in enumerate(sorted(children)):
            lines.append(
                f"mkdir -p {shlex.quote(str(child))} && mount --move $s{n}_{i} {shlex.quote(str(child))} && rmdir $s{n}_{i}"
            )
    return "; ".join(lines) + ";" if lines else ""


def private_tmp_script() -> str:
    """Shell lines giving the service an empty ``/tmp`` of its own (``PrivateTmp=true``).

    A checkout or virtualenv that itself lives under ``/tmp`` (a CI clone, say) is
    bind-mounted back into the fresh tmpfs, so the interpreter stays reachable.
    """
    tmp = Path("/tmp")
    kept = sorted({Path(*p.parts[:3]) for p in _needed_paths() if p.is_relative_to(tmp) and p != tmp})
    stash = [
        f"k{i}=$(mktemp -d /run/hfyt-tmp.XXXXXX) && mount --bind {shlex.quote(str(p))} $k{i}"
        for i, p in enumerate(kept)
    ]
    back = [
        f"mkdir -p {shlex.quote(str(p))} && mount --move $k{i} {shlex.quote(str(p))} && rmdir $k{i}"
        for i, p in enumerate(kept)
    ]
    lines = [*stash, "mount -t tmpfs -o mode=1777,size=256m housify-private-tmp /tmp", *back]
    return " " + "; ".join(lines) + ";"


ReadyCheck = Callable[[], Awaitable[bool]]


@dataclass
class Service:
    """One long-running process: ``argv`` as ``user:group`` with ``umask`` inside ``netns``.

    ``ready`` is polled after start until it returns True. ``root`` runs the
    process as root (nginx's master drops to its ``user`` itself).
    """

    name: str
    netns: Netns
    argv: list[str]
    env: dict[str, str]
    log: Path
    user: str = "root"
    group: str = "root"
    umask: int = SERVICE_UMASK
    cwd: Path | None = None
    ready: ReadyCheck | None = None
    ready_timeout: float = 120.0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0
    spawned_at: float = 0.0  # time.time() of the latest spawn

    def _command(self) -> list[str]:
        if self.user == "root":
            return [*self.netns.exec_prefix(), *self.argv]
        drop = ["setpriv", f"--reuid={self.user}", f"--regid={self.group}", "--init-groups", "--", *self.argv]
        # ip netns exec runs the command in a mount namespace of its own: PrivateTmp=true of the
        # units (SeaweedFS also puts its gRPC sockets at fixed /tmp paths) and the exposure mounts.
        script = exposure_script() + private_tmp_script()
        return [*self.netns.exec_prefix(), "sh", "-c", "set -e; " + script + ' exec "$@"', "service", *drop]

    def spawn(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts + 1} at {time.strftime('%H:%M:%S')}\n".encode())
            self.proc = subprocess.Popen(
                self._command(),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                umask=self.umask,
                start_new_session=True,
            )
        self.starts += 1
        self.spawned_at = time.time()

    async def start(self) -> Service:
        """Spawn and wait until ready; raises ``RuntimeError`` with the log tail when it dies or times out."""
        self.spawn()
        await self.wait_ready()
        return self

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if self.ready is None or await self.ready():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {self.ready_timeout:.0f} s:\n{self.tail()}")
            await asyncio.sleep(0.2)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        """The running process and all its descendants (nginx's workers, the exec'd interpreter ...)."""

        def tree(pid: int) -> list[int]:
            found = [pid]
            for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
                found += tree(int(child))
            return found

        return tree(self.proc.pid) if self.running else []  # type: ignore[union-attr]

    def send(self, sig: int) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)  # type: ignore[union-attr]

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash: nothing gets to clean up) and reap it."""
        self.send(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """``sig``, then SIGKILL after ``timeout`` seconds."""
        if not self.running:
            return
        self.send(sig)
        try:
            self.proc.wait(timeout=timeout)  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            self.kill()


async def tcp_ready(netns: Netns, host: str, port: int) -> bool:
    return await netns.probe(host, port, timeout=0.5) == "open"
