"""Figures of the web app on loopback: JavaScript shipped for the first screen, and time until
the Create screen is usable, in Debian's Chromium driven by Playwright.

Usage (against a running ``housify standalone`` with the built app, e.g. ``scripts/run``)::

    .venv/bin/python bench/web_figures.py --base-url http://127.0.0.1:8000 [--runs 5]

Prints, for the front page (``/``, a visitor's first screen), the JavaScript files the page
loaded and their size compressed with gzip -9 (what a server with gzip would send), and for a
signed-in user opening ``/#/create`` in a fresh tab with a cold cache, the milliseconds from
navigation start until the prompt field is visible and enabled (median and max of ``--runs``);
that includes restoring the session through the refresh cookie (one POST /auth/token) and
GET /users/me. Lighthouse's scores come from ``npx lighthouse`` (docs/web.md).
"""

from __future__ import annotations

import argparse
import gzip
import secrets
import statistics

import httpx
from playwright.sync_api import sync_playwright

PASSWORD = "violet-harbor-seventeen"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    email = f"bench-{secrets.token_hex(4)}@example.com"
    httpx.post(f"{base}/auth/register", json={"email": email, "password": PASSWORD}).raise_for_status()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        # 1. JavaScript for the first screen.
        ctx = browser.new_context(viewport={"width": 360, "height": 740})
        page = ctx.new_page()
        scripts: list[str] = []
        page.on("response", lambda r: scripts.append(r.url) if r.request.resource_type == "script" else None)
        page.goto(f"{base}/", wait_until="networkidle")
        total_raw = total_gz = 0
        for url in scripts:
            body = httpx.get(url).content
            gz = len(gzip.compress(body, 9))
            total_raw += len(body)
            total_gz += gz
            print(f"  {url.removeprefix(base)}: {len(body) / 1000:.1f} kB, gzip {gz / 1000:.1f} kB")
        print(f"first screen JS: {len(scripts)} files, {total_raw / 1000:.1f} kB, gzip {total_gz / 1000:.1f} kB")
        ctx.close()

        # 2. Time until Create is usable for a signed-in user (fresh tab, cold cache).
        times = []
        for _ in range(args.runs):
            ctx = browser.new_context(viewport={"width": 360, "height": 740})
            page = ctx.new_page()
            page.goto(f"{base}/#/login")
            page.get_by_label("E-mail").fill(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("heading", name="Create", exact=True).wait_for()
            fresh = ctx.new_page()  # new document; the HTTP cache of this context is warm, so:
            fresh.route(
                "**/*", lambda route: route.continue_(headers={**route.request.headers, "cache-control": "no-cache"})
            )
            fresh.goto(f"{base}/#/create")
            field = fresh.get_by_label("Describe a room or facade")
            field.wait_for(state="visible")
            assert field.is_enabled()
            times.append(fresh.evaluate("performance.now()"))
            ctx.close()
        print(
            f"Create usable after: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms "
            f"({args.runs} runs; cold tab, session restored from the refresh cookie)"
        )
        browser.close()


if __name__ == "__main__":
    main()
