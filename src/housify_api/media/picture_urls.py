"""The signed ``url``/``thumb_url`` of image answers, and the API's own check of them (no nginx).

:func:`configure` is called once per app by
:func:`housify_api.media.services.build_media_services` with the deployment's
:class:`~housify_common.storage.signing.MediaUrls`; :func:`picture_urls`
signs a ``media_images`` row's two keys. The caching rule and its 5-minute
bound are in :mod:`housify_common.storage.signing` and docs/storage.md.

:func:`serve_signed` answers ``GET /media/{pub|own}/<key>?md5=…&expires=…``
when nginx does not (the standalone, or an edge without the location): the
same token nginx's ``secure_link_md5`` checks, then the bytes.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from litestar import Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import File, Stream

from housify_api.media.delivery import send_bytes
from housify_api.settings import MediaSettings
from housify_common.storage import ImageStore, StorageKeyError, check_key
from housify_common.storage.base import content_type_of
from housify_common.storage.signing import MEDIA_PREFIX, PUBLIC_SCOPE, MediaUrls, Verdict, cache_control

log = logging.getLogger("housify.media")

_current: MediaUrls | None = None


def configure(urls: MediaUrls) -> None:
    """Make ``urls`` the signer of this process's image answers."""
    global _current
    _current = urls


def current() -> MediaUrls:
    """The configured signer; before any app configured one, one with a random secret."""
    global _current
    if _current is None:
        _current = MediaUrls(secrets.token_urlsafe(32))
    return _current


def picture_urls(row: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    """``url``, ``thumb_url`` and ``urls_expire_at`` of a ``media_images`` row (a ``select()`` dict)."""
    urls = current()
    public = bool(row["public"])
    full = urls.sign(row["storage_key"], public=public, now=now)
    thumb = urls.sign(row["thumb_key"], public=public, now=now)
    return {
        "url": full.url,
        "thumb_url": thumb.url,
        "urls_expire_at": dt.datetime.fromtimestamp(min(full.expires, thumb.expires), dt.UTC),
    }


async def serve_signed(
    store: ImageStore, settings: MediaSettings, scope: str, key: str, token: str, expires: str
) -> Response[bytes] | File | Stream:
    """The bytes behind a ``/media/{scope}/{key}`` URL, after checking its token like nginx.

    Raises:
        PermissionDeniedException: a token that does not match the path (tampered, another key,
            ``own`` turned into ``pub``) — 403, as nginx answers.
        HTTPException: 410 the URL has expired (the client fetches its listing again).
        NotFoundException: a key that is not a storage key, or a picture deleted since.
        StorageUnavailable: the store failed (503).
    """
    try:
        check_key(key)
    except StorageKeyError as exc:
        raise NotFoundException("no such picture") from exc
    verdict = current().verify(f"{MEDIA_PREFIX}{scope}/{key}", token, expires)
    if verdict is Verdict.bad:
        raise PermissionDeniedException("media URL: the signature does not match")
    if verdict is Verdict.expired:
        raise HTTPException(status_code=410, detail="media URL: expired; fetch the listing again for a new one")
    headers = {"Cache-Control": cache_control(scope == PUBLIC_SCOPE), "X-Content-Type-Options": "nosniff"}
    return await send_bytes(store, settings, key, content_type_of(key), headers=headers, what=key)
