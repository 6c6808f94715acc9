"""``GET /dev/mailbox``: the standalone's local mailbox as a page a person opens in the browser.

With no SMTP server, ``housify standalone`` writes verification, reset and
notice mails to a Maildir (``HOUSIFY_MAILBOX_DIR``, :mod:`housify_api.email`);
this page lists the newest of them with their links, so the person running it
can verify an address or reset a password without a mail reader.

Who sees it:

* the route exists only where mails go to that local mailbox — ``mailbox_dir``
  set and no ``smtp_host`` (:func:`mailbox_routes`). Production sends through
  SMTP and sets no mailbox (``nixos/modules/housify-api.nix``), so there the
  path is a plain 404 and absent from the OpenAPI document;
* only clients on this machine: a request whose client address (after the
  trusted proxy's ``X-Forwarded-For``) is not loopback gets the same 404, so a
  standalone started with ``--host 0.0.0.0`` shows no one else's reset token.
  The page holds one-time tokens: it is sent ``no-store``, with
  ``Referrer-Policy: no-referrer`` and a Content-Security-Policy that allows
  nothing to load (OWASP ASVS 4.0 §8.2.1, §14.4.3).
"""

from __future__ import annotations

import asyncio
import ipaddress
from html import escape
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler

from housify_api.email import LocalMail, latest_mails
from housify_api.settings import ApiSettings

PATH = "/dev/mailbox"
#: How many mails the page lists, newest first.
SHOWN = 20
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
}


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (the ASGI scope's client address) is this machine (127.0.0.0/8 or ::1)."""
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _mail_html(mail: LocalMail) -> str:
    links = "".join(f'<li><a href="{escape(link)}">{escape(link)}</a></li>' for link in mail.links)
    return (
        "<article>"
        f"<h2>{escape(mail.subject) or '(no subject)'}</h2>"
        f"<p>To <strong>{escape(mail.to)}</strong> · {mail.delivered_at:%Y-%m-%d %H:%M:%S} UTC</p>"
        + (f"<ul>{links}</ul>" if links else "")
        + f"<pre>{escape(mail.body)}</pre></article>"
    )


def render(mails: list[LocalMail], directory: str) -> str:
    """The page: the newest mails with their links, or a sentence saying there are none yet."""
    items = (
        "".join(_mail_html(mail) for mail in mails) or "<p>No mail yet. Sign up or ask for a reset, then reload.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Housify standalone: local mailbox</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:1rem auto;padding:0 1rem}"
        "article{border-top:1px solid #ccc;padding:.5rem 0}pre{white-space:pre-wrap;overflow-wrap:anywhere}"
        "a{overflow-wrap:anywhere}</style></head><body>"
        "<h1>Local mailbox</h1>"
        f"<p>Mails this standalone wrote to <code>{escape(directory)}</code> instead of sending them, newest "
        f"first (the last {SHOWN}). Only this computer sees this page.</p>"
        f"{items}</body></html>"
    )


@get(PATH, opt={"exclude_from_auth": True}, include_in_schema=False)
async def mailbox_page(request: Request[Any, Any, Any], settings: NamedDependency[ApiSettings]) -> Response[str]:
    """The local mailbox's newest mails as HTML, to loopback clients only (404 to any other)."""
    if not is_loopback(request.client.host if request.client else None):
        raise NotFoundException()
    mails = await asyncio.to_thread(latest_mails, settings.mailbox_dir, SHOWN)
    return Response(render(mails, settings.mailbox_dir), media_type="text/html; charset=utf-8", headers=HEADERS)


def mailbox_routes(settings: ApiSettings) -> list[HTTPRouteHandler]:
    """``[mailbox_page]`` where mails go to the local Maildir (``mailbox_dir`` set, no ``smtp_host``), else ``[]``."""
    return [mailbox_page] if settings.mailbox_dir and not settings.smtp_host else []
