"""Signed picture URLs through the real API (no nginx: the API checks them itself, as the standalone does).

On both stores: listings hand out URLs that work without credentials; a tampered,
expired or another picture's URL is refused; after deleting no fetch succeeds,
after unpublishing none succeeds past the bound; Cache-Control follows the rule;
Featured and the gallery drop a picture made private at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from apikit import picture, upload
from housify_api.settings import MediaSettings
from housify_common.storage import signing

from .seaweedfs import SeaweedFS
from .test_api import api, content, storage_for


def with_query(url: str, **changes: str) -> str:
    split = urlsplit(url)
    return split.path + "?" + urlencode({**dict(parse_qsl(split.query)), **changes})


class Clock:
    """``time.time`` of the signing module, moved on by the test (the API runs in this process)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        real = time.time

        class _Time:
            @staticmethod
            def time() -> float:
                return real() + self.offset

        monkeypatch.setattr(signing, "time", _Time)


async def test_listed_urls_work_without_credentials_and_refuse_tampering(
    migrated_db: str, tmp_path: Path, kind: str, weed: SeaweedFS | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api(tmp_path, storage_for(kind, tmp_path, weed)) as (server, http, accounts):
        store = server.app.state.services.media.store
        alice, bob = await accounts.user(), await accounts.user()
        mine = (await upload(http, alice, picture(120, 90))).json()
        theirs = (await upload(http, bob, picture(80, 60))).json()
        listed = (await http.get("/images/", headers=alice.headers)).json()["items"][0]
        # the same URL within one 2-minute window (compared by path: a window may end between the two answers)
        assert urlsplit(listed["url"]).path == urlsplit(mine["url"]).path
        assert listed["url"].startswith("/media/own/images/")

        full = await http.get(listed["url"])  # no Authorization: the URL is the permission
        assert full.status_code == 200, full.text
        assert full.content == await store.get(f"images/{mine['id']}.png")
        assert full.headers["cache-control"] == "private, max-age=60"
        assert full.headers["content-type"] == "image/png"
        thumb = await http.get(listed["thumb_url"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
        assert thumb.content == await store.get(f"thumbs/{mine['id']}.webp")

        query = dict(parse_qsl(urlsplit(listed["url"]).query))
        refused = {
            "token changed": with_query(listed["url"], md5="A" + query["md5"][1:]),
            "expiry moved": with_query(listed["url"], expires=str(int(query["expires"]) + 3600)),
            "private turned public": listed["url"].replace("/media/own/", "/media/pub/"),
            "thumb's token on the picture": urlsplit(listed["url"]).path + "?" + urlsplit(listed["thumb_url"]).query,
            # Bob's valid URL with Alice's key in it: someone else's picture
            "another user's picture": theirs["url"].replace(theirs["id"], mine["id"]),
            "no token": urlsplit(listed["url"]).path,
        }
        for what, url in refused.items():
            answer = await http.get(url)
            assert answer.status_code == 403, (what, answer.status_code)
            assert answer.content != full.content
        # Bob gets no URL of Alice's private picture at all
        assert (await http.get(f"/images/{mine['id']}", headers=bob.headers)).status_code == 404
        assert all(item["id"] != mine["id"] for item in (await http.get("/gallery/")).json()["items"])

        clock = Clock(monkeypatch)
        clock.offset = signing.BOUND_SECONDS
        expired = await http.get(listed["url"])
        assert expired.status_code == 410 and "expired" in expired.json()["detail"]
        fresh = (await http.get(f"/images/{mine['id']}", headers=alice.headers)).json()["url"]
        assert fresh != listed["url"] and (await http.get(fresh)).status_code == 200
        clock.offset = 0

        assert (await http.delete(f"/images/{mine['id']}", headers=alice.headers)).status_code == 204
        assert (await http.get(listed["url"])).status_code == 404  # deleted: gone at once


async def test_unpublished_picture_leaves_gallery_and_featured_at_once_and_its_urls_within_the_bound(
    migrated_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    media = MediaSettings(featured_cache_seconds=3600, featured_prior_votes=1)
    async with api(tmp_path, storage_for("directory", tmp_path, None), media=media) as (_server, http, accounts):
        owner, fan = await accounts.user(), await accounts.user()
        image = (await upload(http, owner, picture(64, 64), public=True)).json()
        assert image["url"].startswith("/media/pub/")
        rated = await http.put(f"/images/{image['id']}/rating", json={"stars": 5}, headers=fan.headers)
        assert rated.status_code in (200, 201), rated.text
        featured = (await http.get("/gallery/featured")).json()
        assert image["id"] in [item["id"] for item in featured]
        gallery_url = next(i["url"] for i in (await http.get("/gallery/")).json()["items"] if i["id"] == image["id"])
        public = await http.get(gallery_url)
        assert public.status_code == 200 and public.headers["cache-control"] == "public, max-age=60"
        assert (await http.get(content(image))).headers["cache-control"] == "public, max-age=60"

        unpublished = await http.patch(f"/images/{image['id']}", json={"public": False}, headers=owner.headers)
        assert unpublished.status_code == 200
        # at once, although the front page is cached for an hour on this instance
        assert image["id"] not in [item["id"] for item in (await http.get("/gallery/featured")).json()]
        assert image["id"] not in [item["id"] for item in (await http.get("/gallery/")).json()["items"]]
        assert (await http.get(content(image))).status_code == 404  # the API route checks every time
        private = await http.get(content(image), headers=owner.headers)
        assert private.headers["cache-control"] == "private, max-age=60"
        # the public URL handed out before lives to its end (at most 2 windows), never past the bound
        clock = Clock(monkeypatch)
        clock.offset = signing.BOUND_SECONDS
        assert (await http.get(gallery_url)).status_code == 410
