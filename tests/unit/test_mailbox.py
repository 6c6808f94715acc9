"""With no SMTP server, the embedded default's mails land in a local Maildir a person (or the example client) reads."""

from __future__ import annotations

import mailbox

from housify_api.email import Mailer
from housify_api.settings import ApiSettings


async def test_mails_go_to_the_local_maildir_when_no_smtp_host_is_set(tmp_path):
    box = tmp_path / "mailbox"
    mailer = Mailer(ApiSettings(data_dir=str(tmp_path), mailbox_dir=str(box), public_url="http://127.0.0.1:8000"))
    mailer.verification("ben@example.com", "tok.en-123")
    await mailer.aclose()
    (message,) = list(mailbox.Maildir(box, create=False))
    assert message["To"] == "ben@example.com" and "Confirm" in message["Subject"]
    assert "http://127.0.0.1:8000/auth/verify-email?token=tok.en-123" in message.get_payload(decode=True).decode()


async def test_without_a_mailbox_nothing_is_written_and_the_log_names_no_link(tmp_path, caplog):
    mailer = Mailer(ApiSettings(data_dir=str(tmp_path)))
    with caplog.at_level("INFO", logger="housify_api.email"):
        mailer.verification("ben@example.com", "secret-token")
        await mailer.aclose()
    assert "secret-token" not in caplog.text and "ben@example.com" in caplog.text
    assert not list(tmp_path.iterdir())
