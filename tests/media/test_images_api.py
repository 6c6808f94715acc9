"""Uploads, history, one picture, its bytes, edits and deletion over real HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from uuid import UUID

import httpx
import msgspec
from PIL import Image

from apikit import Accounts, picture, upload


async def test_upload_then_history_content_and_delete(http: httpx.AsyncClient, accounts: Accounts) -> None:
    alice = await accounts.user()
    response = await upload(http, alice, picture(640, 480, "JPEG"), title="kitchen", filename="../../etc/passwd.png")
    assert response.status_code == 201, response.text
    image = response.json()
    assert (image["kind"], image["content_type"], image["width"], image["height"]) == ("upload", "image/jpeg", 640, 480)
    assert image["title"] == "kitchen" and image["public"] is False
    assert image["rating"] == {"average": None, "count": 0, "mine": None}

    history = (await http.get("/images", headers=alice.headers)).json()
    assert [item["id"] for item in history["items"]] == [image["id"]]

    path = f"/images/{image['id']}/content"
    full = await http.get(path, headers=alice.headers)
    assert full.status_code == 200
    assert full.headers["content-type"] == "image/jpeg"
    assert full.headers["cache-control"] == "private, max-age=60"  # the caching rule (docs/storage.md)
    assert Image.open(io.BytesIO(full.content)).size == (640, 480)
    etag = full.headers["etag"]
    again = await http.get(path, headers={**alice.headers, "If-None-Match": etag})
    assert again.status_code == 304

    thumb = await http.get(path + "?size=thumb", headers=alice.headers)
    assert thumb.headers["content-type"] == "image/webp"
    assert (await http.get(image["url"])).content == full.content  # the listing's signed URL, no credentials
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 256

    from housify_api.media.quota import used_bytes

    assert await used_bytes(alice.id) == image["size_bytes"]
    assert (await http.delete(f"/images/{image['id']}", headers=alice.headers)).status_code == 204
    assert await used_bytes(alice.id) == 0
    assert (await http.get(path, headers=alice.headers)).status_code == 404
    assert (await http.get(image["url"])).status_code == 404


async def test_bad_uploads_are_clear_4xx(http: httpx.AsyncClient, accounts: Accounts) -> None:
    user = await accounts.user()
    text = await upload(http, user, b"hello, I am a text file", filename="room.png")
    assert text.status_code == 422 and "not a PNG, JPEG or WebP" in text.json()["detail"]
    raw = picture(300, 300, "PNG")
    truncated = await upload(http, user, raw[: len(raw) // 2])
    assert truncated.status_code == 422 and "truncated" in truncated.json()["detail"]
    missing = await http.post("/images/uploads", files={"other": ("x", b"y")}, headers=user.headers)
    assert missing.status_code == 400 or missing.status_code == 422
    assert "file" in missing.json()["detail"]
    anonymous = await http.post("/images/uploads", files={"file": ("a.png", picture())})
    assert anonymous.status_code == 401


async def test_pixel_bomb_is_413(http: httpx.AsyncClient, accounts: Accounts) -> None:
    from .test_uploads import png_bomb

    user = await accounts.user()
    response = await upload(http, user, png_bomb(20_000, 20_000))
    assert response.status_code == 413
    assert "50,000,000" in response.json()["detail"]


async def test_upload_size_limit_of_level_is_413(http: httpx.AsyncClient, accounts: Accounts, media_server) -> None:  # noqa: ANN001
    from housify_api.tables import SubscriptionLevel

    user = await accounts.user(level="Test-Tiny")
    await SubscriptionLevel.insert(
        SubscriptionLevel(
            name="Test-Tiny",
            price_usd=0,
            upload_size_limit_mb=1,
            storage_limit_gb=1,
            its=1.0,
            api_key_limit=1,
            requests_hour=1,
            watermark=True,
        )
    ).on_conflict(action="DO NOTHING")
    media_server.app.state.services.levels.forget()
    big = picture(64, 64) + bytes(1_200_000)  # 1.2 MB: over the 1 MB limit whatever its content
    response = await upload(http, user, big)
    assert response.status_code == 413
    assert "upload limit of your level (Test-Tiny) is 1 MB" in response.json()["detail"]


async def test_storage_quota_holds_under_concurrent_uploads(
    http: httpx.AsyncClient, accounts: Accounts, media_server
) -> None:  # noqa: ANN001
    from housify_api.media.tables import StorageUse

    user = await accounts.user()
    limit = (await media_server.app.state.services.levels.get("Free-Tier")).storage_limit_bytes
    first = await upload(http, user)
    size = first.json()["size_bytes"]
    # leave room for exactly one more picture of the same size (plus a little)
    await StorageUse.update({StorageUse.bytes_used: limit - size - size // 2}).where(StorageUse.owner == user.id)
    # all six at once (the per-user cap of uploads in flight would otherwise refuse four with 429)
    services = media_server.app.state.services
    settings = msgspec.structs.replace(services.media.settings, uploads_in_flight=6)
    images = dataclasses.replace(services.media.images, settings=settings)
    media_server.app.state.services = dataclasses.replace(
        services, media=dataclasses.replace(services.media, images=images, settings=settings)
    )
    try:
        responses = await asyncio.gather(*(upload(http, user) for _ in range(6)))
    finally:
        media_server.app.state.services = services
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 413, 413, 413, 413, 413]
    refused = next(r for r in responses if r.status_code == 413)
    assert "storage limit of your level is 10.0 GB" in refused.json()["detail"]
    row = await StorageUse.select(StorageUse.bytes_used).where(StorageUse.owner == user.id).first()
    assert limit - size // 2 - size <= row["bytes_used"] <= limit


async def test_patch_public_and_visibility_matrix(http: httpx.AsyncClient, accounts: Accounts) -> None:
    owner, other, admin = await accounts.user(), await accounts.user(), await accounts.user(role="admin")
    image = (await upload(http, owner, title="private room")).json()
    path = f"/images/{image['id']}"
    anonymous: dict[str, str] = {}

    # private: owner and admin see it, others get 404 (the id is not confirmed)
    for who, expected in ((owner.headers, 200), (admin.headers, 200), (other.headers, 404), (anonymous, 404)):
        assert (await http.get(path, headers=who)).status_code == expected
        assert (await http.get(path + "/content?size=thumb", headers=who)).status_code == expected

    # only owner/admin may change it
    assert (await http.patch(path, json={"public": True}, headers=other.headers)).status_code == 404
    assert (await http.patch(path, json={"public": True}, headers=anonymous)).status_code == 401
    patched = await http.patch(path, json={"public": True, "title": "sunny loft"}, headers=owner.headers)
    assert patched.status_code == 200 and patched.json()["public"] is True and patched.json()["title"] == "sunny loft"
    bad = await http.patch(path, json={"title": "x" * 201}, headers=owner.headers)
    assert bad.status_code == 400 and "title" in bad.text
    unknown = await http.patch(path, json={"owner": str(other.id)}, headers=owner.headers)
    assert unknown.status_code == 400

    # public: everyone sees it, with shared-cache headers; still only owner/admin change or delete it
    public_content = await http.get(path + "/content")
    assert public_content.status_code == 200 and public_content.headers["cache-control"] == "public, max-age=60"
    assert (await http.get(path, headers=anonymous)).status_code == 200
    assert (await http.patch(path, json={"title": "mine now"}, headers=other.headers)).status_code == 403
    assert (await http.delete(path, headers=other.headers)).status_code == 403
    assert (await http.delete(path, headers=anonymous)).status_code == 401
    assert (await http.patch(path, json={"title": "by admin"}, headers=admin.headers)).json()["title"] == "by admin"
    assert (await http.delete(path, headers=admin.headers)).status_code == 204
    assert (await http.get(path, headers=owner.headers)).status_code == 404


async def test_history_cursor_pages_and_kind_filter(http: httpx.AsyncClient, accounts: Accounts) -> None:
    user = await accounts.user()
    ids = [(await upload(http, user, picture(64 + 8 * i, 64))).json()["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/images", params=params, headers=user.headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    generated = (await http.get("/images", params={"kind": "generated"}, headers=user.headers)).json()
    assert generated["items"] == []
    bad = await http.get("/images", params={"cursor": "garbage"}, headers=user.headers)
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]
    wrong_kind = await http.get("/images", params={"kind": "stolen"}, headers=user.headers)
    assert wrong_kind.status_code == 400


async def test_every_cursor_list_refuses_a_non_base64url_cursor_with_400(
    http: httpx.AsyncClient, accounts: Accounts
) -> None:
    """Non-ASCII cursors reached base64 decoding and raised a 500 (found by schemathesis on /gallery)."""
    user = await accounts.user()
    for path in ("/gallery", "/images", "/jobs"):
        for cursor in ("\U000f492a\u791d\xf2", "a b", "x" * 1025):
            response = await http.get(path, params={"cursor": cursor}, headers=user.headers)
            assert response.status_code == 400, (path, cursor, response.text)
            assert "cursor" in response.text


async def test_api_key_reaches_private_pictures_on_public_routes(http: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.user()
    image = (await upload(http, owner)).json()
    created = await http.post("/users/me/api-keys", json={"name": "phone"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    key = {"X-API-Key": created.json()["key"]}
    assert (await http.get(f"/images/{image['id']}", headers=key)).status_code == 200
    assert (await http.get(f"/images/{image['id']}/content", headers=key)).status_code == 200
    bad = await http.get(f"/images/{image['id']}", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401  # wrong credentials are not "anonymous"


async def test_accel_redirect_mode(http: httpx.AsyncClient, accounts: Accounts, media_server) -> None:  # noqa: ANN001
    import dataclasses

    import msgspec

    owner = await accounts.user()
    image = (await upload(http, owner, picture(64, 64, "WEBP"), public=True)).json()
    state = media_server.app.state
    plain = state.services
    settings = msgspec.structs.replace(plain.media.settings, accel_redirect_prefix="/_media/")
    images = dataclasses.replace(plain.media.images, settings=settings)
    state.services = dataclasses.replace(
        plain, media=dataclasses.replace(plain.media, images=images, settings=settings)
    )
    try:
        response = await http.get(f"/images/{image['id']}/content")
        thumb = await http.get(f"/images/{image['id']}/content?size=thumb")
    finally:
        state.services = plain
    assert response.status_code == 200 and response.content == b""
    assert response.headers["x-accel-redirect"] == f"/_media/images/{image['id']}.webp"
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["cache-control"] == "public, max-age=60"
    assert thumb.headers["x-accel-redirect"] == f"/_media/thumbs/{image['id']}.webp"
    assert plain.media.store.local_path(f"images/{image['id']}.webp").is_file()


async def test_openapi_documents_the_media_routes(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/schema/openapi.json")).json()
    for path in (
        "/images/uploads",
        "/images/{image_id}/content",
        "/images/{image_id}/rating",
        "/jobs",
        "/jobs/{job_id}",
        "/gallery",
        "/gallery/featured",
        "/prompts/assist",
    ):
        assert path in schema["paths"], path
    # The handler reads its form itself, so the multipart body is declared by hand (it was missing).
    body = schema["paths"]["/images/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"] and body["properties"]["file"]["format"] == "binary"


async def test_content_errors_are_json_and_documented(http: httpx.AsyncClient, accounts: Accounts) -> None:
    """The route's media type was image/*, so Litestar labelled its JSON error bodies image/* (found by schemathesis)."""
    user = await accounts.user()
    schema = (await http.get("/schema/openapi.json")).json()
    documented = schema["paths"]["/images/{image_id}/content"]["get"]["responses"]
    missing = await http.get(f"/images/{UUID(int=7)}/content", headers=user.headers)
    bad_size = await http.get(f"/images/{UUID(int=7)}/content", params={"size": "huge"})
    bad_token = await http.get(f"/images/{UUID(int=7)}/content", headers={"Authorization": "Bearer nope"})
    for response, status in ((missing, 404), (bad_size, 400), (bad_token, 401)):
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json()["status_code"] == status
        assert str(status) in documented and "application/json" in documented[str(status)]["content"]
    assert "image/*" in documented["200"]["content"] and "304" in documented


async def test_rating_and_job_statuses_are_in_the_schema(http: httpx.AsyncClient, accounts: Accounts) -> None:
    """PUT .../rating answers 201 for a new rating and POST /jobs 404 for an unknown image: both must be documented."""
    owner, rater = await accounts.user(), await accounts.user()
    image_id = (await upload(http, owner, picture(64, 64), public=True)).json()["id"]
    paths = (await http.get("/schema/openapi.json")).json()["paths"]
    rated = await http.put(f"/images/{image_id}/rating", json={"stars": 4}, headers=rater.headers)
    own = await http.put(f"/images/{image_id}/rating", json={"stars": 4}, headers=owner.headers)
    job = await http.post(
        "/jobs",
        json={"task": "img2img", "prompt": "a loft", "source_image_id": str(UUID(int=9))},
        headers=rater.headers,
    )
    for response, method, path in (
        (rated, "put", "/images/{image_id}/rating"),
        (own, "put", "/images/{image_id}/rating"),
        (job, "post", "/jobs"),
    ):
        assert str(response.status_code) in paths[path][method]["responses"], (
            method,
            path,
            response.status_code,
            response.text,
        )
    assert (rated.status_code, own.status_code, job.status_code) == (201, 403, 404), job.text


async def test_large_upload_within_the_level_limit(http: httpx.AsyncClient, accounts: Accounts) -> None:
    """Bigger than Litestar's default 10 MB request body cap, well within Free-Tier's 100 MB."""
    user = await accounts.user()
    noise = Image.effect_noise((2048, 2048), 100).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG", compress_level=0)
    assert len(buffer.getvalue()) > 11 * 2**20
    response = await upload(http, user, buffer.getvalue())
    assert response.status_code == 201, response.text
    assert (response.json()["width"], response.json()["height"]) == (2048, 2048)


async def test_deleting_the_account_removes_its_picture_files(
    http: httpx.AsyncClient, accounts: Accounts, media_server
) -> None:
    from housify_api.media.tables import Image as ImageRow

    carol = await accounts.user()
    image = (await upload(http, carol, picture(320, 240, "PNG"))).json()
    row = await ImageRow.select(ImageRow.storage_key, ImageRow.thumb_key).where(ImageRow.id == image["id"]).first()
    store = media_server.app.state.services.media.store
    paths = [store.local_path(row["storage_key"]), store.local_path(row["thumb_key"])]
    assert all(path.exists() for path in paths)

    assert (await http.delete("/users/me", headers=carol.headers)).status_code == 204
    assert not any(path.exists() for path in paths)
    assert await ImageRow.count().where(ImageRow.id == image["id"]) == 0
