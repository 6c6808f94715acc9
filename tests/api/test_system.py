"""Welcome, health, readiness, metrics, and the OpenAPI UIs served without any CDN."""

from __future__ import annotations

import re


async def test_root_health_ready(client):
    assert (await client.get("/")).json() == {"message": "Welcome to Housify API"}
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "database": "ok", "redis": "ok"}


async def test_metrics(client):
    await client.get("/health")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and "housify_requests_total" in metrics.text


async def test_security_headers(client):
    headers = (await client.get("/")).headers
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"


async def test_docs_need_no_cdn(client):
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["openapi"].startswith("3.1") and "/auth/token" in schema["paths"]
    assert schema["components"]["securitySchemes"]["OAuth2"]["flows"]["password"]["tokenUrl"] == "/auth/token"
    for page in ("/schema/swagger", "/schema/redoc"):
        html = (await client.get(page)).text
        assert not re.search(r"(src|href)=['\"]https?://", html), page
        for asset in re.findall(r"(?:src|href)=['\"](/schema/assets/[^'\"]+)", html):
            response = await client.get(asset)
            assert response.status_code == 200 and len(response.content) > 1000, asset
