"""ASGI guard in front of spyne: bounded body, no DTDs, well-formed SOAP 1.1 envelopes only.

SOAP 1.1 (W3C Note, §3) says a message "MUST NOT contain a Document Type
Declaration". Refusing any DOCTYPE before spyne parses also stops entity
expansion ("billion laughs") and external entities (XXE): entities can only be
declared in a DTD. spyne itself answers some DTD payloads with a bare HTTP 500
and a logged traceback (seen with spyne 2.14; tests/soap/test_hostile.py), so they never reach it.

The check reads at most ``max_bytes``, scans the bytes for a DTD, then parses
once with lxml with entity resolution, DTD loading and network access off (to
catch DTDs in other encodings and malformed XML) and checks the envelope's
namespace. Refusals are SOAP 1.1 Faults (HTTP 500; 413 for size) built here.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_ENVELOPE = f"{{{SOAP11_ENV}}}Envelope"
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY", b"<!ELEMENT", b"<!ATTLIST")


class Refusal(Exception):
    """Why a request body is refused: a SOAP faultcode, a reason and the HTTP status."""

    def __init__(self, code: str, reason: str, status: int = 500) -> None:
        super().__init__(reason)
        self.code, self.reason, self.status = code, reason, status


def fault_envelope(code: str, reason: str) -> bytes:
    """A SOAP 1.1 Fault envelope (``faultcode`` qualified by the envelope namespace, as spyne writes it)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soap11env:Envelope xmlns:soap11env="{SOAP11_ENV}"><soap11env:Body><soap11env:Fault>'
        f"<faultcode>soap11env:{escape(code)}</faultcode><faultstring>{escape(reason)}</faultstring>"
        "</soap11env:Fault></soap11env:Body></soap11env:Envelope>"
    ).encode()


#: Scope key under which :class:`XmlGuard` leaves the checked envelope's root element for the app behind.
ENVELOPE_SCOPE_KEY = "housify.soap.envelope"


def check_envelope(body: bytes) -> etree._Element:
    """The root of ``body``; raises :class:`Refusal` unless it is a well-formed, DTD-free SOAP 1.1 envelope."""
    if any(marker in body for marker in _DTD_MARKERS):
        raise Refusal("Client.DTDForbidden", "a SOAP 1.1 message must not contain a Document Type Declaration")
    parser = etree.XMLParser(
        resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False, remove_blank_text=False
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise Refusal("Client.MalformedRequest", f"request is not well-formed XML: {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:  # DTD in an encoding the byte scan missed
        raise Refusal("Client.DTDForbidden", "a SOAP 1.1 message must not contain a Document Type Declaration")
    if root.tag != _ENVELOPE:
        if isinstance(root.tag, str) and root.tag.endswith("}Envelope"):
            # SOAP 1.1 §4.4: an envelope in another namespace is a VersionMismatch
            raise Refusal("VersionMismatch", f"expected a SOAP 1.1 envelope in namespace {SOAP11_ENV}, got {root.tag}")
        raise Refusal("Client.MalformedRequest", f"root element must be {{{SOAP11_ENV}}}Envelope, got {root.tag}")
    body_element = root.find(f"{{{SOAP11_ENV}}}Body")
    if body_element is None or not any(isinstance(child.tag, str) for child in body_element):
        # spyne dereferences the first Body child without checking (AttributeError -> bare 500)
        raise Refusal("Client.MalformedRequest", "the SOAP Body must contain the operation element")
    return root


def crash_to_fault(app: Callable[..., Any]) -> Callable[..., Any]:
    """WSGI wrapper: an exception escaping spyne becomes a ``Server.InternalError`` Fault, not a bare 500."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            return app(environ, start_response)
        except Exception:
            log.exception("spyne failed on a request that passed the guard")
            body = fault_envelope("Server.InternalError", "the request could not be processed")
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))],
                sys.exc_info(),
            )
            return [body]

    return wrapped


class XmlGuard:
    """ASGI middleware: POST bodies pass to ``app`` only after :func:`check_envelope`; other requests pass as they are.

    The parsed envelope root goes to ``app`` as ``scope[ENVELOPE_SCOPE_KEY]`` (read-only use).

    Args:
        app: the ASGI app behind (spyne in its worker threads).
        max_bytes: largest accepted body; larger is refused with HTTP 413 without reading further.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read_body(scope, receive)
            if body is None:  # client went away
                return
            scope[ENVELOPE_SCOPE_KEY] = check_envelope(body)
        except Refusal as refusal:
            log.info("refused SOAP request from %s: %s", (scope.get("client") or ("?",))[0], refusal.code)
            await _send_fault(send, refusal)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if not value.isdigit():
                    raise Refusal("Client.MalformedRequest", "Content-Length is not a number", 400)
                if int(value) > limit:
                    raise Refusal("Client.RequestTooLarge", f"request body exceeds {limit} bytes", 413)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise Refusal("Client.RequestTooLarge", f"request body exceeds {limit} bytes", 413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _send_fault(send: Send, refusal: Refusal) -> None:
    body = fault_envelope(refusal.code, refusal.reason)
    headers = [(b"content-type", b"text/xml; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if refusal.status == 413:
        headers.append((b"connection", b"close"))  # the unread rest of the body is not wanted
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
