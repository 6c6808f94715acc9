"""Settings of the media domain (images, jobs, gallery), from ``HOUSIFY_*`` variables.

Shared names (DESIGN.md §8): ``HOUSIFY_STORAGE_DIR`` (image storage root, the
same directory the AI workers write to) and ``HOUSIFY_AI_URL`` (base URL of the
AI server's internal API, e.g. ``http://127.0.0.1:8100``). The others are the
media domain's own; every one is documented in ``docs/quickstart.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec

from housify_common.db import default_data_dir
from housify_common.settings import load_settings

#: Pixel cap for uploads. Pillow warns at ``Image.MAX_IMAGE_PIXELS`` (89,478,485
#: pixels, about 0.25 GB of RGBA) and refuses at twice that; Housify refuses far
#: earlier: 50 megapixels covers every phone and DSLR photo (a 45 MP full-frame
#: sensor is 8192 x 5464) and bounds a decoded RGBA image to 200 MB.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


class MediaSettings(msgspec.Struct, frozen=True, kw_only=True):
    #: ``HOUSIFY_STORAGE_DIR``: root of the image store; ``<HOUSIFY_DATA_DIR>/storage`` when empty.
    storage_dir: str = ""
    #: ``HOUSIFY_AI_URL``: the AI server's internal API; empty means "not configured" (503 on assist).
    ai_url: str = ""
    #: ``HOUSIFY_AI_TIMEOUT_SECONDS``: timeout of one call to the AI internal API
    #: (the prompt assistant writes ~200 tokens at ~35 tokens/s on 2 CPU threads, FIELD-NOTES).
    ai_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    #: ``HOUSIFY_MEDIA_MAX_IMAGE_PIXELS``: largest accepted width x height of an upload.
    media_max_image_pixels: Annotated[int, msgspec.Meta(ge=1)] = DEFAULT_MAX_IMAGE_PIXELS
    #: ``HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX``: when set (e.g. ``/_media/``), ``GET
    #: /images/{id}/content`` answers with an empty body and ``X-Accel-Redirect:
    #: <prefix><storage key>`` so nginx sends the file from an ``internal`` location.
    media_accel_redirect_prefix: str = ""
    #: ``HOUSIFY_MEDIA_FEATURED_PRIOR_VOTES``: ``m`` of the Bayesian average (see ``ranking.py``).
    media_featured_prior_votes: Annotated[int, msgspec.Meta(ge=1)] = 5
    #: ``HOUSIFY_MEDIA_FEATURED_CACHE_SECONDS``: how long one API instance reuses the computed
    #: front page (it scans every rated public picture: ~20-30 ms at 10,000); 0 = always fresh.
    media_featured_cache_seconds: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    #: ``HOUSIFY_MEDIA_CONSUMER_NAME``: this API instance's name in the results consumer
    #: group; ``<hostname>-<pid>`` when empty.
    media_consumer_name: str = ""

    @property
    def storage_root(self) -> Path:
        return Path(self.storage_dir) if self.storage_dir else default_data_dir() / "storage"


def load_media_settings(**overrides: object) -> MediaSettings:
    """Read :class:`MediaSettings` from the environment; raises ``SettingsError`` naming the variable."""
    return load_settings(MediaSettings, **overrides)
