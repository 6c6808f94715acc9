"""Password hashing (Argon2id) and password rules (docs/design.md "Security rules").

Hashing and verifying run in a worker thread: one Argon2 operation blocks for
tens to hundreds of milliseconds (docs/design.md "Measured facts"), which would stall every other
request on the event loop. Parameters come from settings; hashes made with
older parameters are upgraded on the next successful login.

Rules (NIST SP 800-63B §5.1.1.2, OWASP Authentication Cheat Sheet): at least
``password_min_length`` characters, at most 128, not one of the most common
passwords (``common_passwords.txt``), not the e-mail address or its local part,
not a single repeated character.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MAX_LENGTH = 128


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = files("housify_api.auth").joinpath("common_passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def password_problem(password: str, *, min_length: int, email: str = "") -> str | None:
    """The first rule ``password`` breaks, as a sentence for the client; ``None`` when it passes."""
    if len(password) < min_length:
        return f"password must be at least {min_length} characters long"
    if len(password) > MAX_LENGTH:
        return f"password must be at most {MAX_LENGTH} characters long"
    if len(set(password)) == 1:
        return "password must not be one character repeated"
    lowered = password.lower()
    if lowered in common_passwords():
        return "password is one of the most commonly used passwords; choose another"
    local = email.lower().partition("@")[0]
    if email and (lowered == email.lower() or (len(local) >= 4 and local in lowered)):
        return "password must not contain your e-mail address"
    return None


class Passwords:
    """Argon2id with settings' parameters; every method that hashes is async and off-loop."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        # Verified against when the account does not exist, so both paths take the same time.
        self._dummy_hash = self._hasher.hash("housify-timing-equaliser")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> tuple[bool, str | None]:
        """``(ok, new_hash)``: ``new_hash`` is set when ``ok`` and the parameters changed (rehash on login)."""
        return await asyncio.to_thread(self._verify_sync, stored_hash, password)

    def _verify_sync(self, stored_hash: str | None, password: str) -> tuple[bool, str | None]:
        try:
            self._hasher.verify(stored_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False, None
        if stored_hash is None:
            return False, None
        if self._hasher.check_needs_rehash(stored_hash):
            return True, self._hasher.hash(password)
        return True, None
