"""Outgoing e-mail: login notifications (docs/design.md "Security rules"), verification and password-reset links.

:meth:`Mailer.send` never blocks or fails the request that caused it: it
schedules delivery (aiosmtplib, the configured SMTP server) as a task and logs
a failed delivery. With no ``HOUSIFY_SMTP_HOST`` mails are not sent: they go to
the local Maildir ``HOUSIFY_MAILBOX_DIR`` when one is set (the embedded
default's mailbox, Python's :class:`mailbox.Maildir`), otherwise a log line
names recipient and subject (never the body: it holds one-time tokens).
Other services send through the same instance (``services.mailer``).
:func:`latest_mails` reads that Maildir back for the standalone's mailbox page
(``housify_api.system.mailbox_page``).
"""

from __future__ import annotations

import asyncio
import logging
import mailbox
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from pathlib import Path

import aiosmtplib
import msgspec

from housify_api.settings import ApiSettings

log = logging.getLogger("housify_api.email")


#: A link in a mail's text: ``http(s)://`` up to whitespace or a quote (the bodies Housify writes).
LINK = re.compile(r"https?://[^\s\"'<>]+")


class LocalMail(msgspec.Struct, kw_only=True, frozen=True):
    """One mail of the local Maildir: when it was written (UTC), recipient, subject, the text and its links."""

    delivered_at: datetime
    to: str
    subject: str
    body: str
    links: list[str]


def latest_mails(directory: str, limit: int = 20) -> list[LocalMail]:
    """The newest ``limit`` mails of the Maildir ``directory``, newest first; ``[]`` when it does not exist yet.

    Blocking (file reads): call it in a thread from async code.
    """
    if not directory or not Path(directory, "cur").is_dir():
        return []
    box = mailbox.Maildir(directory, create=False)
    messages = sorted((box.get_message(key) for key in box.iterkeys()), key=lambda m: m.get_date(), reverse=True)
    out = []
    for message in messages[:limit]:
        body = _plain_text(message)
        out.append(
            LocalMail(
                delivered_at=datetime.fromtimestamp(message.get_date(), UTC),
                to=_header(message, "To"),
                subject=_header(message, "Subject"),
                body=body,
                links=LINK.findall(body),
            )
        )
    return out


def _header(message: Message, name: str) -> str:
    """A header as text (RFC 2047 encoded words decoded)."""
    value = message.get(name)
    return str(make_header(decode_header(value))) if value else ""


def _plain_text(message: Message) -> str:
    """The first ``text/plain`` part, decoded by its charset (the mails Housify writes are one such part)."""
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.is_multipart():
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return raw.decode(part.get_content_charset() or "utf-8", errors="replace")
    return ""


class Mailer:
    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, to: str, subject: str, body: str) -> None:
        """Queue a plain-text mail to ``to``; returns at once."""
        message = EmailMessage()
        message["From"] = self._settings.smtp_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        task = asyncio.get_running_loop().create_task(self._deliver(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, message: EmailMessage) -> None:
        s = self._settings
        if not s.smtp_host:
            if s.mailbox_dir:
                await asyncio.to_thread(mailbox.Maildir(s.mailbox_dir, create=True).add, message)
                log.info(
                    "mail to %s written to the local mailbox %s: %r", message["To"], s.mailbox_dir, message["Subject"]
                )
            else:
                log.info("mail not sent (HOUSIFY_SMTP_HOST unset): to=%s subject=%r", message["To"], message["Subject"])
            return
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username or None,
                password=s.smtp_password or None,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("mail to %s not delivered via %s:%s: %s", message["To"], s.smtp_host, s.smtp_port, exc)

    async def aclose(self, grace_seconds: float = 5.0) -> None:
        """Wait (at most ``grace_seconds``) for mails still being sent; called on shutdown."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_seconds)

    # Housify's messages -------------------------------------------------------------

    def login_notice(self, to: str, ip: str, user_agent: str, when: str) -> None:
        self.send(
            to,
            "New sign-in to your Housify account",
            f"Your Housify account was signed in to from a new device.\n\n"
            f"Time: {when}\nIP address: {ip}\nBrowser/app: {user_agent or 'unknown'}\n\n"
            "If this was you, nothing to do. If not, reset your password now and sign out all sessions.\n",
        )

    def verification(self, to: str, token: str) -> None:
        link = f"{self._settings.public_url.rstrip('/')}/auth/verify-email?token={token}"
        self.send(
            to,
            "Confirm your Housify e-mail address",
            f"Confirm this address by opening:\n\n{link}\n\n"
            f'or POST /auth/verify-email with {{"token": "{token}"}}.\n'
            f"The link expires in {self._settings.email_verification_ttl_seconds // 3600} hours.\n",
        )

    def email_change_notice(self, to: str, new_address: str) -> None:
        """Tell the account's current address that a change to ``new_address`` was asked for (ASVS 4.0 §2.2.3)."""
        self.send(
            to,
            "Your Housify e-mail address is being changed",
            f"Someone signed in to your Housify account asked to change its e-mail address to {new_address}.\n"
            "The change takes effect only when the link mailed to that address is opened.\n\n"
            "If this was not you, reset your password now (a reset ends every session and deletes\n"
            "every API key) and sign out all sessions.\n",
        )

    def password_reset(self, to: str, token: str) -> None:
        """The reset mail: a link to the web app's reset screen with the token in the URL's fragment
        (browsers send no fragment to a server or in ``Referer``, RFC 9110 §10.1.3), and the API call."""
        link = f"{self._settings.public_url.rstrip('/')}/#/reset?token={token}"
        self.send(
            to,
            "Reset your Housify password",
            "Someone asked to reset the password of this account. If it was you, choose a new one at:\n\n"
            f"{link}\n\n"
            f'or POST /auth/password-reset/confirm with {{"token": "{token}", "new_password": "..."}}.\n'
            f"The token expires in {self._settings.password_reset_ttl_seconds // 60} minutes. "
            "If it was not you, ignore this mail.\n",
        )
