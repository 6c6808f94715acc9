"""Hostile and broken SOAP requests, sent as raw envelopes: each is refused quickly with a SOAP Fault."""

from __future__ import annotations

import time

import httpx
import pytest
from lxml import etree

from .conftest import MAX_REQUEST_BYTES, fresh_symbol

pytestmark = pytest.mark.timeout(60)

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "urn:housify:soap:crypto"


def envelope(body: str, *, prolog: str = "", env_ns: str = ENV, op_ns: str = TNS) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<soapenv:Envelope xmlns:soapenv="{env_ns}" xmlns:c="{op_ns}"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
    ).encode()


def rate_call(symbol: str) -> str:
    return f"<c:GetCryptoRate><c:symbol>{symbol}</c:symbol></c:GetCryptoRate>"


BILLION_LAUGHS = (
    "<!DOCTYPE lolz [<!ENTITY lol 'lol'>"
    + "".join(f"<!ENTITY lol{i} '{('&lol%s;' % (i - 1 if i > 1 else '')) * 10}'>" for i in range(1, 10))
    + "]>"
)
XXE = '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def post(server, body: bytes, **headers: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    resp = httpx.post(
        server.soap_url, content=body, headers={"Content-Type": "text/xml; charset=utf-8", **headers}, timeout=10
    )
    return resp, time.monotonic() - started


def fault_of(resp: httpx.Response) -> tuple[str, str]:
    """(faultcode without prefix, faultstring) of a SOAP 1.1 Fault response; fails if it is not one."""
    assert resp.headers["content-type"].startswith("text/xml"), resp.text[:300]
    fault = etree.fromstring(resp.content).find(f"{{{ENV}}}Body/{{{ENV}}}Fault")
    assert fault is not None, resp.text[:300]
    return fault.findtext("faultcode").rpartition(":")[2], fault.findtext("faultstring")


@pytest.mark.parametrize(
    "name, body",
    [
        ("billion laughs", envelope(rate_call("&lol9;"), prolog=BILLION_LAUGHS)),
        ("external entity", envelope(rate_call("&xxe;"), prolog=XXE)),
        ("external DTD", envelope(rate_call("BTCUSDT"), prolog='<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">')),
        ("plain DOCTYPE", envelope(rate_call("BTCUSDT"), prolog="<!DOCTYPE soapenv:Envelope>")),
        (
            "DOCTYPE in UTF-16",
            (
                '<?xml version="1.0" encoding="UTF-16"?>'
                + XXE
                + envelope(rate_call("&xxe;")).decode().split("?>", 1)[1]
            ).encode("utf-16"),
        ),
    ],
)
def test_any_dtd_is_refused_before_parsing(soap_server, name, body):
    resp, seconds = post(soap_server, body)
    code, reason = fault_of(resp)
    assert (resp.status_code, code) == (500, "Client.DTDForbidden"), name
    assert "Document Type Declaration" in reason
    assert "root:" not in resp.text and "lol" not in resp.text
    assert seconds < 0.5


@pytest.mark.parametrize(
    "name, body, expected",
    [
        ("not XML", b"this is not xml", "Client.MalformedRequest"),
        ("truncated", envelope(rate_call("BTCUSDT"))[:-20], "Client.MalformedRequest"),
        ("undeclared entity", envelope(rate_call("&nope;")), "Client.MalformedRequest"),
        ("empty body", b"", "Client.MalformedRequest"),
        ("not an envelope", b"<GetCryptoRate xmlns='urn:housify:soap:crypto'/>", "Client.MalformedRequest"),
        ("empty Body", envelope(""), "Client.MalformedRequest"),
        (
            "SOAP 1.2 envelope",
            envelope(rate_call("BTCUSDT"), env_ns="http://www.w3.org/2003/05/soap-envelope"),
            "VersionMismatch",
        ),
    ],
)
def test_malformed_requests_are_client_faults(soap_server, name, body, expected):
    resp, seconds = post(soap_server, body)
    assert resp.status_code == 500, name
    assert fault_of(resp)[0] == expected, name
    assert seconds < 0.5


def test_operation_in_a_wrong_namespace_is_a_fault_not_a_bare_500(soap_server):
    resp, _ = post(soap_server, envelope(rate_call("BTCUSDT"), op_ns="urn:somebody-else"))
    assert resp.status_code == 500
    assert fault_of(resp)[0].startswith("Client.")


@pytest.mark.parametrize("amount", ["1e400x", "NaN", "Infinity", "-Infinity"])
def test_amount_that_is_not_a_finite_decimal_is_a_validation_fault(soap_server, amount):
    call = f"<c:ConvertAmount><c:amount>{amount}</c:amount><c:fromAsset>USDT</c:fromAsset><c:toAsset>BTC</c:toAsset></c:ConvertAmount>"
    resp, _ = post(soap_server, envelope(call))
    assert (resp.status_code, fault_of(resp)[0]) == (500, "Client.ValidationError")


def test_oversized_body_is_refused_with_413_without_reading_it(soap_server):
    padding = "<!-- " + "x" * MAX_REQUEST_BYTES + " -->"
    resp, seconds = post(soap_server, envelope(padding + rate_call("BTCUSDT")))
    assert resp.status_code == 413 and fault_of(resp)[0] == "Client.RequestTooLarge"
    assert str(MAX_REQUEST_BYTES) in fault_of(resp)[1]
    assert seconds < 0.5


def test_oversized_chunked_body_without_length_is_refused(soap_server):
    def chunks():
        yield envelope("")[:60]
        for _ in range(MAX_REQUEST_BYTES // 1000 + 2):
            yield b" " * 1000

    resp = httpx.post(soap_server.soap_url, content=chunks(), headers={"Content-Type": "text/xml"}, timeout=10)
    assert resp.status_code == 413 and fault_of(resp)[0] == "Client.RequestTooLarge"


def test_service_still_answers_after_hostile_requests(soap_server, fake_binance):
    post(soap_server, envelope(rate_call("&lol9;"), prolog=BILLION_LAUGHS))
    symbol = fresh_symbol()
    fake_binance.prices[symbol] = "12.5"
    resp, _ = post(soap_server, envelope(rate_call(symbol)))
    assert resp.status_code == 200
    assert etree.fromstring(resp.content).findtext(f".//{{{TNS}}}Price") == "12.5"
