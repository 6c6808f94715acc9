"""SHA-256 of secrets kept only as hashes (refresh-token ids, one-time tokens, API keys).

A fast hash is enough for high-entropy random secrets: there is nothing to
brute-force, and an indexed lookup by hash stays one query (OWASP Password
Storage Cheat Sheet: slow hashes are for low-entropy passwords).
"""

from __future__ import annotations

import hashlib


def sha256_hex(value: str) -> str:
    """Lower-case hex SHA-256 of ``value`` (UTF-8): 64 characters."""
    return hashlib.sha256(value.encode()).hexdigest()
