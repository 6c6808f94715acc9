"""Sending a stored picture's bytes: through nginx (``X-Accel-Redirect``), as a file, or as a stream.

Used by ``GET /images/{id}/content`` (:class:`~housify_api.media.images.ImageService`) and by the
API's own answer to signed picture URLs (:mod:`housify_api.media.picture_urls`); it takes the
store and the media settings as arguments and imports no use case.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from litestar import Response
from litestar.datastructures import ETag
from litestar.exceptions import NotFoundException
from litestar.response import File, Stream

from housify_api.settings import MediaSettings
from housify_common.storage import ImageStore

log = logging.getLogger("housify.media")


async def send_bytes(
    store: ImageStore, settings: MediaSettings, key: str, content_type: str, *, headers: dict[str, str], what: str
) -> Response[bytes] | File | Stream:
    """The stored bytes of ``key`` in ``store`` with ``headers``.

    With ``HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX`` set the body is empty and
    ``X-Accel-Redirect`` sends nginx to its internal location: ``<prefix><key>``
    for a directory store, ``<prefix><bucket>/<key>?<presigned query>`` for S3
    (docs/storage.md). Without it the API sends the bytes itself (a file
    response, or a stream from the bucket).

    Raises:
        NotFoundException: ``key`` is missing from storage (logged with ``what``).
        StorageUnavailable: the store failed (503).
    """
    prefix = settings.accel_redirect_prefix
    if prefix:
        target = await store.accel_redirect(key, prefix)
        return Response(b"", media_type=content_type, headers={**headers, "X-Accel-Redirect": target})
    path = store.local_path(key)
    if path is not None:
        if not path.is_file():
            _missing(what, key)
        etag = headers.pop("ETag", None)
        return File(
            path=path,
            media_type=content_type,
            content_disposition_type="inline",
            headers=headers,
            etag=ETag(value=etag.strip('"')) if etag else None,
        )
    try:
        stream = await store.get_stream(key)
    except FileNotFoundError:
        _missing(what, key)
    return Stream(
        stream.chunks,
        media_type=content_type,
        headers={**headers, "Content-Length": str(stream.size), "Content-Disposition": "inline"},
    )


def _missing(what: str, key: str) -> NoReturn:
    log.error("%s: file %s missing from storage", what, key)
    raise NotFoundException(f"{what}: content missing")
