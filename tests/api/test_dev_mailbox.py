"""Issue 18: in the standalone a person reads the verification and reset mails on ``GET /dev/mailbox``
(the local Maildir, this computer only); production, which sends through SMTP, has no such page."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import httpx
import pytest

from apikit import register, unique_email
from testkit import AsgiServer, free_port

LINK = re.compile(r'href="([^"]+)"')


@pytest.fixture
async def standalone_like(
    migrated_db: str, redis_prefix: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    """The API as ``housify standalone`` configures it for mail: no SMTP host, a local Maildir."""
    from housify_api.app import create_app
    from housify_api.settings import load_api_settings

    port = free_port()
    settings = load_api_settings(
        redis_prefix=f"{redis_prefix}mailbox:",
        data_dir=str(tmp_path),
        mailbox_dir=str(tmp_path / "mailbox"),
        public_url=f"http://127.0.0.1:{port}",
    )
    async with (
        AsgiServer(create_app(settings), port=port, proxy_headers=True, forwarded_allow_ips="127.0.0.1") as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=15) as client,
    ):
        yield client, tmp_path / "mailbox"


async def test_the_standalone_lists_a_sent_mail_with_its_link_to_this_computer_only(
    standalone_like: tuple[httpx.AsyncClient, Path],
) -> None:
    client, _ = standalone_like
    empty = await client.get("/dev/mailbox")
    assert empty.status_code == 200 and "No mail yet" in empty.text

    email = await register(client, unique_email("mailbox"))  # sends the verification mail
    for _ in range(100):
        page = await client.get("/dev/mailbox")
        if email in page.text:
            break
        await asyncio.sleep(0.05)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Confirm your Housify e-mail address" in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<script" not in page.text

    # The link in the mail, listed as a link, is the real one: opening it verifies the address.
    (link,) = [unescape(href) for href in LINK.findall(page.text) if "verify-email" in href]
    assert link.startswith(str(client.base_url).rstrip("/") + "/auth/verify-email?token=")
    opened = await client.get(link)
    assert opened.status_code == 200, opened.text
    assert opened.json() == {"message": "e-mail address verified"}

    # A reset mail lands on top (newest first), its token on the page.
    assert (await client.post("/auth/password-reset", json={"email": email})).status_code == 202
    for _ in range(100):
        page = await client.get("/dev/mailbox")
        if "Reset your Housify password" in page.text:
            break
        await asyncio.sleep(0.05)
    assert page.text.index("Reset your Housify password") < page.text.index("Confirm your Housify e-mail address")
    assert "/auth/password-reset/confirm" in page.text

    # Another machine (here: a client behind the trusted proxy) gets a plain 404, not the tokens.
    remote = await client.get("/dev/mailbox", headers={"X-Forwarded-For": "203.0.113.7"})
    assert remote.status_code == 404 and email not in remote.text


async def test_production_settings_have_no_mailbox_page(client: httpx.AsyncClient, tmp_path: Path) -> None:
    from housify_api.app import create_app
    from housify_api.settings import load_api_settings

    # This run's API sends through SMTP (the production set-up): no page, not in the OpenAPI document.
    assert (await client.get("/dev/mailbox")).status_code == 404
    assert not [path for path in (await client.get("/schema/openapi.json")).json()["paths"] if "mailbox" in path]

    def paths(**settings: str) -> set[str]:
        app = create_app(load_api_settings(data_dir=str(tmp_path), **settings))
        return {route.path for route in app.routes}

    assert "/dev/mailbox" not in paths()  # no SMTP, no mailbox: mails are dropped with a log line
    assert "/dev/mailbox" not in paths(smtp_host="mail.example.com", mailbox_dir=str(tmp_path / "box"))
    assert "/dev/mailbox" in paths(mailbox_dir=str(tmp_path / "box"))  # the standalone's
    # The NixOS modules (production) send through SMTP and set no local mailbox.
    modules = Path(__file__).resolve().parents[2] / "nixos"
    assert not [f for f in modules.rglob("*.nix") if "MAILBOX" in f.read_text()]
