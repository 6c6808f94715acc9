"""housify-soap test fixtures: a fake Binance on loopback and the service in its own process.

The service runs as ``python -m housify_soap.cli serve`` (uvicorn, real HTTP)
against this run's PostgreSQL database; its settings make upstream failures
quick (0.5 s timeout, one retry) and its cache short (1 s). Tests use fresh
symbols (:func:`fresh_symbol`) so the shared cache never couples them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from housify_soap.fake_binance import FakeBinance
from testkit import free_port

CACHE_TTL = 1.0
STALE_MAX_AGE = 60
UPSTREAM_TIMEOUT = 0.5
MAX_REQUEST_BYTES = 16384


def fresh_symbol(quote: str = "USDT") -> str:
    """A symbol no other test uses, e.g. ``X1A2B3CUSDT``."""
    return "X" + secrets.token_hex(3).upper() + quote


@dataclass
class SoapServer:
    base_url: str
    process: subprocess.Popen

    @property
    def soap_url(self) -> str:
        return self.base_url + "/soap"

    @property
    def wsdl_url(self) -> str:
        return self.base_url + "/soap?wsdl"


@pytest.fixture(scope="session")
def fake_binance() -> Iterator[FakeBinance]:
    with FakeBinance() as fake:
        yield fake


def start_soap_server(binance_url: str, **env: str) -> SoapServer:
    """Start housify-soap on a free port and wait for ``/health``; raises if it does not come up in 20 s."""
    port = free_port()
    environ = dict(
        os.environ,
        HOUSIFY_SOAP_BINANCE_URL=binance_url,
        HOUSIFY_SOAP_BINANCE_TIMEOUT=str(UPSTREAM_TIMEOUT),
        HOUSIFY_SOAP_BINANCE_RETRIES="1",
        HOUSIFY_SOAP_CACHE_TTL=str(CACHE_TTL),
        HOUSIFY_SOAP_STALE_MAX_AGE=str(STALE_MAX_AGE),
        HOUSIFY_SOAP_MAX_REQUEST_BYTES=str(MAX_REQUEST_BYTES),
    )
    environ.update(env)  # a test's own settings override the defaults above
    process = subprocess.Popen(
        [sys.executable, "-m", "housify_soap.cli", "serve", "--port", str(port), "--log-level", "warning"], env=environ
    )
    server = SoapServer(f"http://127.0.0.1:{port}", process)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"housify-soap exited with {process.returncode}")
        try:
            if httpx.get(server.base_url + "/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("housify-soap did not answer /health within 20 s")


def stop_soap_server(server: SoapServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def soap_server(migrated_db: str, fake_binance: FakeBinance) -> Iterator[SoapServer]:
    server = start_soap_server(fake_binance.url)
    yield server
    stop_soap_server(server)


@pytest.fixture(scope="session")
async def zeep_client(soap_server: SoapServer) -> AsyncIterator[object]:
    """A zeep AsyncClient built from the WSDL URL only (zeep's AsyncClient with an httpx AsyncTransport)."""
    import zeep
    from zeep.transports import AsyncTransport

    transport = AsyncTransport(client=httpx.AsyncClient(timeout=10), wsdl_client=httpx.Client(timeout=10))
    yield zeep.AsyncClient(soap_server.wsdl_url, transport=transport)
    await transport.aclose()
    transport.wsdl_client.close()
