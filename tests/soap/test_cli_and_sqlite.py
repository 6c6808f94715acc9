"""``housify-soap migrate`` on SQLite (the embedded default) and a GetCryptoRate served from it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from decimal import Decimal

import httpx
import pytest

from .conftest import fresh_symbol, start_soap_server, stop_soap_server

pytestmark = pytest.mark.timeout(90)


def test_migrate_then_serve_on_sqlite(tmp_path, fake_binance):
    db = tmp_path / "soap.sqlite"
    env = {"PICCOLO_CONF": "housify_soap.piccolo_conf", "HOUSIFY_DATABASE_URL": f"sqlite:///{db}"}
    done = subprocess.run(
        [sys.executable, "-m", "housify_soap.cli", "migrate"], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(binance_data)")}
    assert {"symbol", "price", "fetched_at"} <= columns

    symbol = fresh_symbol()
    fake_binance.prices[symbol] = "0.00001234"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        server = start_soap_server(fake_binance.url)
    finally:
        for key, value in saved.items():
            os.environ[key] = value  # type: ignore[assignment]
    try:
        body = (
            '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:housify:soap:crypto"><e:Body>'
            f"<c:GetCryptoRate><c:symbol>{symbol}</c:symbol></c:GetCryptoRate></e:Body></e:Envelope>"
        )
        resp = httpx.post(server.soap_url, content=body, headers={"Content-Type": "text/xml"})
        assert resp.status_code == 200 and "<tns:Price>0.00001234</tns:Price>" in resp.text
    finally:
        stop_soap_server(server)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT price FROM binance_data WHERE symbol = ?", (symbol,)).fetchall()
    assert [Decimal(str(r[0])) for r in rows] == [Decimal("0.00001234")]


def test_bad_setting_names_the_variable():
    done = subprocess.run(
        [sys.executable, "-m", "housify_soap.cli", "serve", "--port", "1"],
        env={**os.environ, "HOUSIFY_SOAP_BINANCE_TIMEOUT": "-1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "HOUSIFY_SOAP_BINANCE_TIMEOUT" in done.stderr
