"""Settings of housify-api, read from ``HOUSIFY_*`` variables (docs/configuration.md).

One tree: :class:`ApiSettings` derives the shared fields (database, Redis,
data and storage directories, AI URL) from
:class:`housify_common.settings.CommonSettings` and nests the media domain's
settings as ``media`` (:class:`MediaSettings`). Secrets may also be given as
files: ``HOUSIFY_JWT_PRIVATE_KEY_FILE=/run/keys/jwt.pem`` fills
``jwt_private_key`` with the file's contents.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from housify_api.billing.settings import BillingSettings
from housify_common.settings import load_settings
from housify_common.shared_settings import CommonSettings

#: Pixel cap for uploads. Pillow warns at ``Image.MAX_IMAGE_PIXELS`` (89,478,485
#: pixels, about 0.25 GB of RGBA) and refuses at twice that; Housify refuses far
#: earlier: 50 megapixels covers every phone and DSLR photo (a 45 MP full-frame
#: sensor is 8192 x 5464) and bounds a decoded RGBA image to 200 MB.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
#: Longest accepted side of an upload: WebP's own limit (16,383 px, RFC 9649 §2.7.1: 14-bit width and
#: height); the longest phone panoramas stay under it.
DEFAULT_MAX_SIDE = 16_383
#: Longest over shortest side of an upload: 360° phone panoramas are at most about 8:1.
DEFAULT_MAX_ASPECT_RATIO = 10.0


class MediaSettings(msgspec.Struct, kw_only=True, frozen=True):
    """The media domain's own settings (images, jobs, gallery); ``ApiSettings.media``.

    Each field's variable is given by its encoded name (``HOUSIFY_`` + upper case).
    """

    #: ``HOUSIFY_AI_TIMEOUT_SECONDS``: timeout of one call to the AI internal API (the prompt
    #: assistant writes ~200 tokens at ~35 tokens/s on 2 CPU threads, docs/design.md).
    ai_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    #: ``HOUSIFY_MEDIA_MAX_IMAGE_PIXELS``: largest accepted width x height of an upload.
    max_image_pixels: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(
        default=DEFAULT_MAX_IMAGE_PIXELS, name="media_max_image_pixels"
    )
    #: ``HOUSIFY_MEDIA_ACCEL_REDIRECT_PREFIX``: when set (e.g. ``/_media/``), ``GET
    #: /images/{id}/content`` answers with an empty body and ``X-Accel-Redirect:
    #: <prefix><storage key>`` so nginx sends the file from an ``internal`` location.
    accel_redirect_prefix: str = msgspec.field(default="", name="media_accel_redirect_prefix")
    #: ``HOUSIFY_MEDIA_URL_SECRET`` (or ``_FILE``): the secret of the signed picture URLs
    #: (``housify_common.storage.signing``); every API instance and nginx's ``secure_link``
    #: hold the same one. Empty: a random one per process (the standalone; one instance only).
    url_secret: str = msgspec.field(default="", name="media_url_secret")
    #: ``HOUSIFY_MEDIA_S3_URL_PREFIX``: nginx's public location proxying to the S3 endpoint
    #: (``/media/s3/``). Set with an S3 store: ``url``/``thumb_url`` are presigned GETs under it;
    #: empty: ``/media/{pub|own}/...`` URLs (nginx's secure_link, or this API checks them).
    s3_url_prefix: str = msgspec.field(default="", name="media_s3_url_prefix")
    #: ``HOUSIFY_MEDIA_FEATURED_PRIOR_VOTES``: ``m`` of the Bayesian average (see ``media/ranking.py``).
    featured_prior_votes: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(
        default=20, name="media_featured_prior_votes"
    )
    #: ``HOUSIFY_MEDIA_FEATURED_CACHE_SECONDS``: how long one API instance reuses the computed
    #: front page (it scans every rated public picture: ~20-30 ms at 10,000); 0 = always fresh.
    featured_cache_seconds: Annotated[float, msgspec.Meta(ge=0)] = msgspec.field(
        default=5.0, name="media_featured_cache_seconds"
    )
    #: ``HOUSIFY_MEDIA_CONSUMER_NAME``: this API instance's name in the results consumer
    #: group; ``<hostname>-<pid>`` when empty.
    consumer_name: str = msgspec.field(default="", name="media_consumer_name")
    #: ``HOUSIFY_MEDIA_LEVELS_CACHE_SECONDS``: how long one API instance reuses a subscription
    #: level's limits before reading the table again (an admin's edit shows within this time).
    levels_cache_seconds: Annotated[float, msgspec.Meta(ge=0)] = msgspec.field(
        default=10.0, name="media_levels_cache_seconds"
    )
    #: ``HOUSIFY_MEDIA_JOB_QUEUE_TIMEOUT``: seconds a job may wait queued (no AI worker started it) before it
    #: fails with ``expired: ...`` and stops counting against the hourly limit (``media/deadlines.py``).
    job_queue_timeout: Annotated[float, msgspec.Meta(gt=0)] = msgspec.field(
        default=1800.0, name="media_job_queue_timeout"
    )
    #: ``HOUSIFY_MEDIA_MAX_IMAGE_SIDE``: longest accepted side of an upload, in pixels.
    max_image_side: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(
        default=DEFAULT_MAX_SIDE, name="media_max_image_side"
    )
    #: ``HOUSIFY_MEDIA_MAX_ASPECT_RATIO``: longest over shortest side of an upload, at most.
    max_aspect_ratio: Annotated[float, msgspec.Meta(ge=1)] = msgspec.field(
        default=DEFAULT_MAX_ASPECT_RATIO, name="media_max_aspect_ratio"
    )
    #: ``HOUSIFY_MEDIA_DECODE_MEMORY_MB``: address-space cap of each upload-decoding process
    #: (``housify_api.media.decoder``); a 50-megapixel RGBA image needs 200 MB decoded, twice while re-encoded.
    decode_memory_mb: Annotated[int, msgspec.Meta(ge=64)] = msgspec.field(default=1024, name="media_decode_memory_mb")
    #: ``HOUSIFY_MEDIA_DECODE_WORKERS``: upload-decoding processes per API process (more uploads wait).
    decode_workers: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(default=2, name="media_decode_workers")
    #: ``HOUSIFY_MEDIA_DECODE_TIMEOUT_SECONDS``: longest decode of one upload.
    decode_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = msgspec.field(
        default=20.0, name="media_decode_timeout_seconds"
    )
    #: ``HOUSIFY_MEDIA_UPLOADS_PER_HOUR``: uploads one user may make in a rolling hour.
    uploads_per_hour: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(default=120, name="media_uploads_per_hour")
    #: ``HOUSIFY_MEDIA_UPLOADS_IN_FLIGHT``: uploads of one user being received or decoded at once.
    uploads_in_flight: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(default=2, name="media_uploads_in_flight")
    #: ``HOUSIFY_MEDIA_ASSIST_CONCURRENCY``: prompt-assistant calls one API process runs at once
    #: (``housify_api.media.assist.AssistGate``); ``HOUSIFY_MEDIA_ASSIST_QUEUE``: calls waiting at most;
    #: ``HOUSIFY_MEDIA_ASSIST_WAIT_SECONDS``: longest wait; ``HOUSIFY_MEDIA_ASSIST_CALLS_PER_JOB``:
    #: a user's calls per hour = this x the level's generation jobs per hour.
    assist_concurrency: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(default=2, name="media_assist_concurrency")
    assist_queue: Annotated[int, msgspec.Meta(ge=0)] = msgspec.field(default=8, name="media_assist_queue")
    assist_wait_seconds: Annotated[float, msgspec.Meta(gt=0)] = msgspec.field(
        default=10.0, name="media_assist_wait_seconds"
    )
    assist_calls_per_job: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(
        default=5, name="media_assist_calls_per_job"
    )
    #: ``HOUSIFY_MEDIA_EVENT_SOCKETS_PER_USER``: job-event WebSockets one user may hold at once
    #: per API process (``housify_api.media.events``; the per-user stream needs only one).
    event_sockets_per_user: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(
        default=8, name="media_event_sockets_per_user"
    )
    #: ``HOUSIFY_MEDIA_EVENT_SOCKETS_MAX``: job-event WebSockets one API process holds at most.
    event_sockets_max: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(default=5000, name="media_event_sockets_max")


class ApiSettings(CommonSettings, kw_only=True, frozen=True):
    """Everything housify-api reads from its environment; defaults are the embedded default."""

    soap_wsdl_url: str = ""
    public_url: str = "http://127.0.0.1:8000"
    cors_origins: list[str] = msgspec.field(default_factory=list)
    # The built web app served at / (housify_api.system.web); empty: the checkout's web/dist if built.
    web_dir: str = ""
    # The front page's example pair (example.json, before/after pictures) served at /example; empty:
    # the pair the web app ships (web/public/example). An operator's own pair replaces it here.
    web_example_dir: str = ""

    # Tokens (docs/authentication.md): ES512 PEMs; kid is the RFC 7638 thumbprint of the public key.
    jwt_private_key: str = ""
    jwt_public_key: str = ""
    jwt_previous_public_keys: str = ""
    jwt_issuer: str = "housify"
    jwt_audience: str = "housify-api"
    access_token_ttl_seconds: int = 300
    refresh_token_ttl_seconds: int = 7 * 24 * 3600
    # Verified access tokens remembered per process (verify once); ~3 KB each.
    access_token_cache_size: int = 20_000

    # Passwords: OWASP Password Storage Cheat Sheet minimum for Argon2id (m=19 MiB, t=2, p=1).
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19 * 1024
    argon2_parallelism: int = 1
    password_min_length: int = 10

    # Password guessing (housify_api.auth.limiter, docs/security.md): per (account, client) the first
    # login_free_attempts wrong passwords are free, then each waits 1, 2, 4 ... s up to
    # login_max_backoff_seconds; per account (all clients) and per client (all accounts) at most
    # login_max_failures_* failures per login_lockout_seconds (OWASP ASVS 4.0 §2.2.1: <= 100 an hour).
    login_free_attempts: int = 5
    login_max_backoff_seconds: int = 900
    login_max_failures_account: int = 100
    login_max_failures_ip: int = 300
    login_lockout_seconds: int = 3600

    # Abuse of mail and sign-up (docs/security.md): mails to one address per rolling hour (more are
    # dropped and logged: 41 mails reached one victim in a second), sign-ups per client address per hour.
    mail_per_recipient_hour: int = 10
    signup_max_per_hour: int = 20

    # Tokens mailed for e-mail verification and password reset.
    email_verification_ttl_seconds: int = 24 * 3600
    password_reset_ttl_seconds: int = 3600

    # SMTP (aiosmtplib). No host: mails are logged instead of sent.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "Housify <no-reply@housify.local>"
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    #: ``HOUSIFY_MAILBOX_DIR``: with no SMTP host, mails are written to this Maildir instead of dropped, so a
    #: person running the embedded default can read verification and reset mails (``housify standalone`` sets
    #: ``<data dir>/mailbox``; ``GET /dev/mailbox`` lists it to this machine's browser, or open it with any mail
    #: reader, e.g. ``mutt -f DIR``). Empty: mails are dropped with a log line naming recipient and subject only
    #: (production never logs a link).
    mailbox_dir: str = ""

    # Superuser bootstrapped at start-up when both are set.
    superuser_email: str = ""
    superuser_password: str = ""

    #: The media domain's settings (``HOUSIFY_AI_TIMEOUT_SECONDS``, ``HOUSIFY_MEDIA_*``).
    media: MediaSettings = msgspec.field(default_factory=MediaSettings)
    #: The billing domain's settings (``HOUSIFY_BTCPAY_*``, ``HOUSIFY_BILLING_*``).
    billing: BillingSettings = msgspec.field(default_factory=BillingSettings)


def load_api_settings(**overrides: object) -> ApiSettings:
    """``ApiSettings`` from the process environment; raises ``SettingsError`` naming the variable."""
    return load_settings(ApiSettings, **overrides)
