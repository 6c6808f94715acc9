"""Signed picture URLs without a server: expiry windows, the bound, tampering, and SigV4 against obstore."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from urllib.parse import parse_qsl, urlsplit

import obstore
import pytest

from housify_common.storage import S3Store
from housify_common.storage.signing import (
    BOUND_SECONDS,
    CACHE_MAX_AGE,
    WINDOW_SECONDS,
    MediaUrls,
    Verdict,
    cache_control,
    md5_token,
)

SECRET = "s" * 43
KEY = "images/0b1d6a4e-8f7c-4c55-9d55-2a0f1e1f0a11.png"


def parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    return split.path, dict(parse_qsl(split.query))


def test_the_same_url_within_a_window_and_a_life_of_one_to_two_windows() -> None:
    urls = MediaUrls(SECRET)
    start = 1_800_000_000 - 1_800_000_000 % WINDOW_SECONDS
    first = urls.sign(KEY, public=False, now=start)
    assert urls.sign(KEY, public=False, now=start + WINDOW_SECONDS - 0.5) == first  # one window: one URL
    assert urls.sign(KEY, public=False, now=start + WINDOW_SECONDS).url != first.url  # the next: a new one
    for offset in range(0, WINDOW_SECONDS, 7):
        made = start + offset
        signed = urls.sign(KEY, public=True, now=made)
        assert WINDOW_SECONDS <= signed.expires - made <= 2 * WINDOW_SECONDS


def test_the_bound_no_url_made_before_access_ended_works_five_minutes_later() -> None:
    """Whatever second a URL was handed out, a fetch BOUND_SECONDS later is refused (as 'expired'),
    and the URL cache entries of nginx (CACHE_MAX_AGE past the URL's end) end within the bound too."""
    urls = MediaUrls(SECRET)
    assert BOUND_SECONDS <= 300 and CACHE_MAX_AGE <= 60
    base = 1_800_000_000
    for offset in range(0, 2 * WINDOW_SECONDS, 3):
        made = base + offset
        for public in (True, False):
            path, query = parts(urls.sign(KEY, public=public, now=made).url)
            assert urls.verify(path, query["md5"], query["expires"], now=made + WINDOW_SECONDS - 1) is Verdict.ok
            assert urls.verify(path, query["md5"], query["expires"], now=made + BOUND_SECONDS) is Verdict.expired
            assert int(query["expires"]) + CACHE_MAX_AGE <= made + BOUND_SECONDS


def test_tampered_or_foreign_urls_are_refused() -> None:
    urls = MediaUrls(SECRET)
    now = 1_800_000_000
    path, query = parts(urls.sign(KEY, public=False, now=now).url)
    other_key = "images/7e57b0a1-0000-4000-8000-000000000000.png"
    other_path, other_query = parts(urls.sign(other_key, public=False, now=now).url)
    assert urls.verify(path, query["md5"], query["expires"], now=now) is Verdict.ok
    # another picture's path with this URL's token (someone else's picture), and the reverse
    assert urls.verify(other_path, query["md5"], query["expires"], now=now) is Verdict.bad
    assert urls.verify(path, other_query["md5"], other_query["expires"], now=now) is Verdict.bad
    # a private URL turned public (so that nginx would cache it), a later expiry, a changed token
    assert urls.verify(path.replace("/own/", "/pub/"), query["md5"], query["expires"], now=now) is Verdict.bad
    assert urls.verify(path, query["md5"], str(int(query["expires"]) + 3600), now=now) is Verdict.bad
    assert urls.verify(path, "A" + query["md5"][1:], query["expires"], now=now) is Verdict.bad
    assert urls.verify(path, "", "", now=now) is Verdict.bad
    assert urls.verify(path, "é", "x", now=now) is Verdict.bad
    # another deployment's secret
    assert MediaUrls("another secret").verify(path, query["md5"], query["expires"], now=now) is Verdict.bad


def test_token_is_nginx_secure_link_md5_recipe() -> None:
    """The recipe of nginx's docs (``echo -n '<expires><uri> <secret>' | openssl md5 -binary | openssl base64 |
    tr +/ -_ | tr -d =``), computed by openssl, not by our code."""
    uri, expires = f"/media/own/{KEY}", 1_800_000_240
    shell = subprocess.run(
        ["openssl", "md5", "-binary"], input=f"{expires}{uri} {SECRET}".encode(), capture_output=True, check=True
    ).stdout
    expected = base64.b64encode(shell).decode().replace("+", "-").replace("/", "_").rstrip("=")
    assert md5_token(SECRET, expires, uri) == expected
    assert expected == base64.urlsafe_b64encode(
        hashlib.md5(f"{expires}{uri} {SECRET}".encode()).digest()
    ).decode().rstrip("=")


def test_cache_control_of_the_rule() -> None:
    assert cache_control(public=True) == "public, max-age=60"
    assert cache_control(public=False) == "private, max-age=60"


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        MediaUrls("")


@pytest.mark.parametrize(
    ("endpoint", "prefix"), [("http://10.0.1.10:3900", ""), ("http://127.0.0.1:8333", "tenant-a"), ("", "p")]
)
def test_sigv4_presign_matches_obstore(endpoint: str, prefix: str) -> None:
    """Our deterministic SigV4 gives obstore's signature for obstore's own X-Amz-Date and expiry."""
    store = S3Store(
        "housify-images",
        prefix,
        endpoint_url=endpoint,
        region="garage",
        access_key_id="GK0123456789abcdef",
        secret_access_key="c2VjcmV0IGtleSBvZiB0ZXN0cw",
    )
    theirs = obstore.sign(store._store, "GET", KEY, __import__("datetime").timedelta(seconds=240))
    their_path, their_query = parts(theirs)
    import datetime as dt

    start = int(dt.datetime.strptime(their_query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp())
    ours_path, ours_query = parts(store.presigned_path(KEY, start=start, seconds=240))
    assert urlsplit(theirs).path == ours_path == their_path
    assert ours_query == their_query
    # extra parameters are signed: another response-cache-control is another signature
    _, with_cc = parts(store.presigned_path(KEY, start=start, seconds=240, query={"response-cache-control": "x"}))
    assert with_cc["X-Amz-Signature"] != ours_query["X-Amz-Signature"]


def test_s3_urls_sit_under_the_nginx_prefix_and_sign_the_cache_rule() -> None:
    store = S3Store("housify-images", endpoint_url="http://10.0.1.10:3900", access_key_id="a", secret_access_key="b")
    urls = MediaUrls(SECRET, store, s3_prefix="/media/s3/")
    now = 1_800_000_000
    signed = urls.sign(KEY, public=True, now=now)
    path, query = parts(signed.url)
    assert path == f"/media/s3/housify-images/{KEY}"
    assert query["response-cache-control"] == "public, max-age=60"
    assert int(query["X-Amz-Expires"]) == 2 * WINDOW_SECONDS
    assert urls.sign(KEY, public=True, now=now + 1) == signed  # deterministic within the window
    private = parts(urls.sign(KEY, public=False, now=now).url)[1]
    assert private["response-cache-control"] == "private, max-age=60"
    # without the prefix an S3 store gets the md5 form (served by the API itself)
    assert MediaUrls(SECRET, store).sign(KEY, public=True, now=now).url.startswith("/media/pub/")
