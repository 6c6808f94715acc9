"""``GET /users/me/export`` (GDPR Art. 20): a ZIP of the pictures and the account's records, streamed;
account deletion ends open orders."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from typing import Any

import pytest

from apikit import Accounts, picture, upload
from billing.kit import as_user, checkout

pytestmark = pytest.mark.timeout(120)


async def test_export_holds_pictures_and_records(billing_api, http, accounts: Accounts, clock) -> None:
    pia = await accounts.user()
    photo = picture(120, 80)
    uploaded = await upload(http, pia, photo, title="kitchen")
    assert uploaded.status_code == 201, uploaded.text
    order = await checkout(http, pia)
    key = (await as_user(http, pia, "POST", "/users/me/api-keys", json={"name": "phone"})).json()

    refused = await http.get("/users/me/export", headers={"X-API-Key": key["key"]})
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/json"
    response = await as_user(http, pia, "GET", "/users/me/export")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    document = json.loads(archive.read("account.json"))
    assert document["account"]["email"] == pia.email and "password_hash" not in document["account"]
    assert [o["id"] for o in document["orders"]] == [order["id"]]
    assert document["pictures"][0]["title"] == "kitchen"
    assert document["api_keys"][0]["prefix"] == key["prefix"] and "key_hash" not in document["api_keys"][0]
    image_id = uploaded.json()["id"]
    names = [n for n in archive.namelist() if n.startswith("pictures/")]
    assert names == [f"pictures/{image_id}.png"]
    stored = archive.read(names[0])
    assert stored[:8] == b"\x89PNG\r\n\x1a\n"  # the stored (EXIF-stripped) picture
    assert json.loads(archive.read("export-report.json")) == {"pictures": 1, "missing": []}


async def test_export_streams_in_chunks(billing_api, accounts: Accounts) -> None:
    """A 24 MB picture goes out in storage-sized pieces: the export never holds a picture in memory."""
    from housify_api.billing.export import export_stream
    from housify_api.media.tables import Image
    from housify_common.storage.base import ObjectStream

    chunk = 256 * 1024
    total = 24 * 1024 * 1024

    class BigStore:
        async def get_stream(self, key: str, chunk_size: int = chunk) -> ObjectStream:
            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(total // chunk):
                    yield b"\x00" * chunk

            return ObjectStream(size=total, chunks=chunks())

    qin = await accounts.user()
    image = Image(
        owner=qin.id,
        kind="upload",
        storage_key=f"u/{qin.id}/big.png",
        thumb_key="t",
        content_type="image/png",
        size_bytes=total,
        width=1,
        height=1,
    )
    await image.save()
    largest = received = 0
    body = io.BytesIO()
    async for piece in export_stream(qin.id, BigStore()):  # type: ignore[arg-type]
        largest = max(largest, len(piece))
        received += len(piece)
        body.write(piece)
    assert received > total and largest <= chunk + 4096
    archive = zipfile.ZipFile(body)
    assert archive.getinfo(f"pictures/{image.id}.png").file_size == total


async def test_deleting_the_account_cancels_open_orders(billing_api, http, accounts: Accounts, clock) -> None:
    from housify_api.billing.tables import BillingOrder

    rae = await accounts.user()
    order = await checkout(http, rae)
    assert (await as_user(http, rae, "DELETE", "/users/me")).status_code == 204
    row: Any = await BillingOrder.select().where(BillingOrder.id == order["id"]).first()
    assert row["state"] == "cancelled" and row["user"] is None
    # Paying it afterwards does not resurrect anything.
    invoice = billing_api.standin.invoice_for_order(order["id"])
    late = await billing_api.standin.set_status(invoice["id"], "Settled")
    assert late is not None and late.status_code == 200 and "unchanged" in late.answer
