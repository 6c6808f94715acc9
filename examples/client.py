"""A small Housify client: the whole user story against a running API.

    python examples/client.py [--base-url http://127.0.0.1:8000] [--out picture.png] [--mailbox DIR]

Registers two people (Ann draws, Ben rates), logs in, asks the prompt
assistant, submits a text2img job, prints live progress from the WebSocket,
downloads the picture, lets Ben confirm his e-mail address (rating needs a
verified address: the link is read from the embedded default's local mailbox,
``$HOUSIFY_DATA_DIR/mailbox``, ``./var/mailbox`` when unset) and rate it, and
lists the featured gallery. Needs only httpx and websockets (both in Housify's
environment).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mailbox
import os
import re
import secrets
import sys
import time
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

PASSWORD = "a-long-example-password-7"


async def register_and_login(http: httpx.AsyncClient, name: str) -> tuple[dict[str, str], str]:
    """Register ``name-<random>@example.com``; returns the Authorization header of its access token and the address."""
    email = f"{name}-{secrets.token_hex(3)}@example.com"
    response = await http.post("/auth/register", json={"email": email, "password": PASSWORD, "full_name": name.title()})
    response.raise_for_status()
    # OAuth2 password grant, form-encoded (RFC 6749 §4.3)
    token = await http.post("/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD})
    token.raise_for_status()
    print(f"registered and logged in as {email}")
    return {"Authorization": f"Bearer {token.json()['access_token']}"}, email


def mailed_token(box: Path, address: str) -> str | None:
    """The verification token in the newest confirmation mail to ``address`` in the Maildir ``box``, if any."""
    if not box.is_dir():
        return None
    for message in mailbox.Maildir(box, create=False):
        if message["To"] == address and "Confirm" in (message["Subject"] or ""):
            found = re.search(r"token=([\w.~-]+)", message.get_payload(decode=True).decode())
            if found:
                return found.group(1)
    return None


async def verify_email(http: httpx.AsyncClient, address: str, box: Path) -> None:
    """Confirm ``address`` with the token mailed to it at sign-up (the mail is written as the request ends)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        token = await asyncio.to_thread(mailed_token, box, address)
        if token:
            response = await http.post("/auth/verify-email", json={"token": token})
            response.raise_for_status()
            print(f"{address} confirmed from the local mailbox {box}")
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"no verification mail for {address} in {box} (is --mailbox the server's HOUSIFY_MAILBOX_DIR?)")


async def assist(http: httpx.AsyncClient, auth: dict[str, str], idea: str) -> str:
    response = await http.post("/prompts/assist", json={"idea": idea, "room": "living room"}, headers=auth)
    if response.status_code != 200:
        print(f"prompt assistant: {response.status_code} {response.json()['detail']} - using the idea as the prompt")
        return idea
    answer = response.json()
    print(f"prompt assistant:\n  prompt:   {answer['prompt'][:200]}\n  negative: {answer['negative_prompt'][:200]}")
    return answer["prompt"].strip() or idea


async def watch(ws_base: str, job_id: str, token: str) -> str:
    """Print the job's events until it ends; returns the new picture's id."""
    # browsers cannot set headers on a WebSocket: the token travels as a subprotocol
    async with connect(f"{ws_base}/jobs/{job_id}/events", subprotocols=["bearer", token]) as ws:
        async for message in ws:
            event = json.loads(message)
            if event["type"] == "progress":
                print(f"  step {event['step']}/{event['total']}", end="\r", flush=True)
            elif event["type"] != "preview":
                print(f"  {event['type']} {event.get('message') or ''}")
            if event["type"] == "succeeded":
                return event["image_id"]
            if event["type"] in ("failed", "cancelled"):
                raise SystemExit(f"job {event['type']}: {event.get('message')}")
    raise SystemExit(f"event stream closed: {ws.close_code} {ws.close_reason}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path("housify-picture.png"))
    parser.add_argument("--idea", default="a cosy scandinavian living room with an oak floor and a big window")
    parser.add_argument(
        "--mailbox",
        type=Path,
        default=Path(os.environ.get("HOUSIFY_DATA_DIR", "var")) / "mailbox",
        help="the server's HOUSIFY_MAILBOX_DIR (default: the embedded default's, $HOUSIFY_DATA_DIR/mailbox)",
    )
    args = parser.parse_args()
    ws_base = args.base_url.replace("http", "ws", 1)

    async with httpx.AsyncClient(base_url=args.base_url, timeout=120) as http:
        ann, _ = await register_and_login(http, "ann")
        ben, ben_address = await register_and_login(http, "ben")
        prompt = await assist(http, ann, args.idea)

        job = await http.post(
            "/jobs",
            json={
                "prompt": prompt[:2000],
                "width": 256,
                "height": 256,
                "steps": 8,
                "title": "Ann's living room",
                "public": True,
            },
            headers=ann,
        )
        job.raise_for_status()
        print(f"job {job.json()['id']} queued ({job.headers['RateLimit-Remaining']} jobs left this hour)")
        image_id = await watch(ws_base, job.json()["id"], ann["Authorization"].split()[1])

        content = await http.get(f"/images/{image_id}/content", headers=ann)
        content.raise_for_status()
        args.out.write_bytes(content.content)
        print(f"picture saved to {args.out} ({len(content.content)} bytes, {content.headers['content-type']})")
        history = (await http.get("/images", headers=ann)).json()["items"]
        print(f"Ann's history: {[item['title'] for item in history]}")

        await verify_email(http, ben_address, args.mailbox)
        rating = await http.put(f"/images/{image_id}/rating", json={"stars": 5}, headers=ben)
        rating.raise_for_status()
        print(f"Ben rated it: {rating.json()}")

        featured = (await http.get("/gallery/featured")).json()
        print("featured gallery:")
        for item in featured:
            print(
                f"  {item['score']:.2f}  {item['title']!r}  ({item['rating']['count']} votes, avg {item['rating']['average']})"
            )


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except httpx.HTTPStatusError as exc:
        sys.exit(f"{exc.request.method} {exc.request.url}: {exc.response.status_code} {exc.response.text}")
