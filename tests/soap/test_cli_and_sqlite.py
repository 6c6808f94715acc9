"""``housify-soap migrate`` on SQLite (the embedded default), a GetCryptoRate served from it and its retention run."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from .conftest import fresh_symbol, start_soap_server, stop_soap_server

pytestmark = pytest.mark.timeout(90)


def test_migrate_then_serve_on_sqlite(tmp_path, fake_binance):
    db = tmp_path / "soap.sqlite"
    env = {"PICCOLO_CONF": "housify_soap.piccolo_conf", "HOUSIFY_DATABASE_URL": f"sqlite:///{db}"}
    done = subprocess.run(
        [sys.executable, "-m", "housify_soap.cli", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(binance_data)")}
        index = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'binance_data_symbol_fetched_at_desc'"
        ).fetchone()
    assert {"symbol", "price", "fetched_at"} <= columns
    assert index is not None and index[0].endswith("(symbol, fetched_at DESC)")  # the hand-written migration

    # Two rows older than the 7-day default retention, stored as piccolo stores Timestamptz on SQLite:
    # the retention run at start-up deletes the older, and keeps the newer as its symbol's newest.
    dormant, now = fresh_symbol(), datetime.now(UTC)
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO binance_data (symbol, price, fetched_at) VALUES (?, ?, ?)",
            [(dormant, 1.5, str(now - timedelta(days=10))), (dormant, 2.5, str(now - timedelta(days=9)))],
        )

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
        deadline = time.monotonic() + 10
        while _prices(db, dormant) != [Decimal("2.5")] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _prices(db, dormant) == [Decimal("2.5")]
    finally:
        stop_soap_server(server)
    assert _prices(db, symbol) == [Decimal("0.00001234")]


def _prices(db, symbol: str) -> list[Decimal]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT price FROM binance_data WHERE symbol = ? ORDER BY fetched_at", (symbol,)).fetchall()
    return [Decimal(str(r[0])) for r in rows]


def test_bad_setting_names_the_variable():
    done = subprocess.run(
        [sys.executable, "-m", "housify_soap.cli", "serve", "--port", "1"],
        env={**os.environ, "HOUSIFY_SOAP_BINANCE_TIMEOUT": "-1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "HOUSIFY_SOAP_BINANCE_TIMEOUT" in done.stderr
