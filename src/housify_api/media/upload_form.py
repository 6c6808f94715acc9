"""The multipart body of ``POST /images/uploads``, read only after its size is known to fit.

Litestar's typed multipart parameters would read the whole body before the
handler could refuse it; here ``Content-Length`` is checked against the
caller's level first (411 without it, 413 over the limit), then the form is
parsed and its fields checked (400 naming the field).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException, ValidationException

from housify_api.plans.service import Level

#: Room for the multipart envelope around the file (boundaries, part headers, title).
MULTIPART_OVERHEAD = 64 * 1024
TITLE_MAX = 200
PURPOSES = ("picture", "mask")
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True, slots=True)
class UploadForm:
    """The fields of an upload: the file's bytes, ``title``, ``public`` and ``purpose``
    (``picture``, or ``mask``: an inpaint's mask, which belongs to its job)."""

    data: bytes
    title: str
    public: bool
    purpose: str = "picture"


async def read_upload_form(request: Request[Any, Any, Any], level: Level) -> UploadForm:
    """Check the declared size, then parse and check the form.

    Raises:
        HTTPException: 411 without ``Content-Length``; 413 when the request is over ``level``'s upload limit.
        ValidationException: 400 naming ``file``, ``title`` or ``public``.
    """
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise HTTPException(status_code=411, detail="Content-Length required for uploads")
    if int(length) > level.upload_size_limit_bytes + MULTIPART_OVERHEAD:
        raise HTTPException(
            status_code=413,
            detail=f"file: the request is {int(length) / 2**20:.1f} MB; the upload limit of your level "
            f"({level.name}) is {level.upload_size_limit_bytes // 2**20} MB",
        )
    form = await request.form()
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise ValidationException("file: a multipart field 'file' with the picture is required")
    title = form.get("title") or ""
    if not isinstance(title, str) or len(title) > TITLE_MAX:
        raise ValidationException(f"title: at most {TITLE_MAX} characters")
    public = BOOLEANS.get(str(form.get("public") or "false").lower())
    if public is None:
        raise ValidationException("public: true or false")
    purpose = str(form.get("purpose") or "picture")
    if purpose not in PURPOSES:
        raise ValidationException(f"purpose: one of {', '.join(PURPOSES)}")
    if purpose == "mask" and public:
        raise ValidationException("public: a mask belongs to its job and cannot be public")
    return UploadForm(data=await file.read(), title=title, public=public, purpose=purpose)
