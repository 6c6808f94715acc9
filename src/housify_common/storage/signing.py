"""Short-lived signed picture URLs that the edge serves without Python (docs/storage.md, "Signed URLs").

Every image answer carries ``url`` and ``thumb_url`` made here, in the API
process, locally (no store round trip, a few µs each). Two forms:

- **``/media/{pub|own}/<key>?md5=<token>&expires=<unix s>``** — the directory
  store behind nginx, and every store in the standalone (no nginx). nginx's
  stock ``ngx_http_secure_link_module`` checks it in C (``secure_link_md5
  "$secure_link_expires$uri <secret>"``, nginx docs, "Module
  ngx_http_secure_link_module"); the API's ``GET /media/...`` route checks the
  same token itself (:meth:`MediaUrls.verify`). ``pub``/``own`` is inside the
  signed ``$uri``, so a private picture's URL cannot be turned into a
  cacheable public one.
- **``<s3 prefix><bucket>/<key>?<SigV4 presigned query>``** — an S3 store
  behind nginx: nginx's public location proxies it to the store, which checks
  the signature (the bucket stays private). The query carries a signed
  ``response-cache-control`` (an S3 GetObject parameter), from which nginx
  decides whether it may cache the bytes.

**Expiry windows.** A URL made at time ``t`` expires at
``E = (floor(t / W) + 2) * W`` with ``W`` = :data:`WINDOW_SECONDS`: it lives
``W``..``2W`` seconds, and every URL of the same picture made within one
window is the *same* URL (for every user and every API instance: signing is
deterministic), so browsers and nginx's cache reuse the bytes.

**The bound.** After a picture is unpublished, deleted or its viewer loses
access, no new fetch succeeds after :data:`BOUND_SECONDS` (5 min): a URL
handed out before lives at most ``2W`` = 240 s, and nginx keeps a public
picture's bytes at most :data:`CACHE_MAX_AGE` = 60 s past its fetch. Every
picture response says ``Cache-Control: private, max-age=60`` (never stored
by shared caches, RFC 9111 §5.2.2.7) or ``public, max-age=60``.

Why MD5 for the directory store: ``secure_link_md5`` is the only signature
check in the nginx that Debian and nixpkgs build (no njs, no extra module;
``auth_request`` would put Python back on every picture). The token is
``MD5(expires + uri + " " + secret)`` over API-chosen text with a 256-bit
secret at the end: no length extension (the secret is last) and no collision
attack (the signed text is not the attacker's); see RFC 6151 §2 for what is
broken in MD5 (collision resistance) and what is not relied on here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from housify_common.storage.base import check_key

if TYPE_CHECKING:
    from housify_common.storage.base import ImageStore

#: Length of one expiry window (seconds): URLs made within one window are identical and live W..2W.
WINDOW_SECONDS = 120
#: ``max-age`` of every picture response, and how long nginx keeps a public picture (seconds).
CACHE_MAX_AGE = 60
#: After unpublishing, deleting or losing access, no new fetch succeeds after this many seconds.
BOUND_SECONDS = 2 * WINDOW_SECONDS + CACHE_MAX_AGE
#: Path prefix of the ``md5`` form (nginx location, and the API's fallback route).
MEDIA_PREFIX = "/media/"
PUBLIC_SCOPE, PRIVATE_SCOPE = "pub", "own"


def cache_control(public: bool) -> str:
    """``Cache-Control`` of a picture's bytes: shared caches only for public pictures."""
    return f"{'public' if public else 'private'}, max-age={CACHE_MAX_AGE}"


def expiry(now: float, window: int = WINDOW_SECONDS) -> int:
    """Unix second at which a URL made at ``now`` expires: the end of the window after ``now``'s."""
    return (math.floor(now / window) + 2) * window


def md5_token(secret: str, expires: int, uri: str) -> str:
    """nginx's ``secure_link_md5 "$secure_link_expires$uri <secret>"``: base64url of the MD5, no padding."""
    digest = hashlib.md5(f"{expires}{uri} {secret}".encode(), usedforsecurity=True).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def nginx_secret_include(secret: str) -> str:
    """The nginx include file (render-nginx.nix's ``mediaSecretInclude``) that gives ``secure_link_md5`` the secret.

    Raises:
        ValueError: a secret with characters that would need quoting (use ``secrets.token_urlsafe``).
    """
    if not secret or not all(c.isascii() and (c.isalnum() or c in "-_.~") for c in secret):
        raise ValueError("the media URL secret must be URL-safe characters (A-Z a-z 0-9 - _ . ~)")
    return f'map $host $housify_media_secret {{ default "{secret}"; }}\n'


class Verdict(str, Enum):
    """What :meth:`MediaUrls.verify` found: as nginx's ``$secure_link`` ("1", "0", "")."""

    ok = "ok"
    expired = "expired"
    bad = "bad"


@dataclass(frozen=True, slots=True)
class SignedUrl:
    """A picture URL (absolute path with query) and the Unix second it stops working."""

    url: str
    expires: int


class MediaUrls:
    """Makes and checks the signed URLs of one deployment.

    Args:
        secret: the shared secret of the ``md5`` form (the API instances and nginx hold the same one).
        store: the image store; an :class:`~housify_common.storage.s3.S3Store` with ``s3_prefix`` set
            gets presigned URLs under that nginx location instead of the ``md5`` form.
        s3_prefix: nginx's public location proxying to the S3 endpoint (``/media/s3/``), or empty.
        window: :data:`WINDOW_SECONDS` (tests shorten it).

    Raises:
        ValueError: an empty secret.
    """

    def __init__(
        self, secret: str, store: ImageStore | None = None, *, s3_prefix: str = "", window: int = WINDOW_SECONDS
    ):
        if not secret:
            raise ValueError("the media URL secret must not be empty")
        from housify_common.storage.s3 import S3Store

        self.secret = secret
        self.window = window
        self.s3 = store if s3_prefix and isinstance(store, S3Store) else None
        self.s3_prefix = "/" + s3_prefix.strip("/") + "/" if s3_prefix else ""

    def sign(self, key: str, *, public: bool, now: float | None = None) -> SignedUrl:
        """The URL of ``key`` for a picture that is (or is not) ``public``, as of ``now`` (Unix s)."""
        now = time.time() if now is None else now
        expires = expiry(now, self.window)
        if self.s3 is not None:
            start = expires - 2 * self.window
            path = self.s3.presigned_path(
                key, start=start, seconds=2 * self.window, query={"response-cache-control": cache_control(public)}
            )
            return SignedUrl(self.s3_prefix.rstrip("/") + path, expires)
        uri = f"{MEDIA_PREFIX}{PUBLIC_SCOPE if public else PRIVATE_SCOPE}/{check_key(key)}"
        return SignedUrl(f"{uri}?md5={md5_token(self.secret, expires, uri)}&expires={expires}", expires)

    def verify(self, uri: str, token: str, expires: str | int, now: float | None = None) -> Verdict:
        """Check an ``md5``-form URL as nginx does: a wrong token is ``bad``, a right one past ``expires`` ``expired``."""
        try:
            when = int(expires)
        except (TypeError, ValueError):
            return Verdict.bad
        if not hmac.compare_digest(md5_token(self.secret, when, uri).encode(), (token or "").encode()):
            return Verdict.bad
        return Verdict.expired if when < (time.time() if now is None else now) else Verdict.ok
