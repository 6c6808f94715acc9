"""Cookie mode of the token endpoint: the refresh token in an ``HttpOnly`` cookie, for the web app.

A client that sends ``X-Refresh-Cookie: 1`` on ``POST /auth/token`` gets the
refresh token as the cookie :data:`REFRESH_COOKIE` instead of in the JSON body
(``refresh_token`` is ``""`` there), and may then refresh with
``grant_type=refresh_token`` and no ``refresh_token`` field: the cookie is read.
The cookie is ``HttpOnly`` (no script can read it, so an XSS cannot steal it),
``Secure``, ``SameSite=Strict`` and ``Path=/auth/token`` (sent to that route
only); it lives as long as the refresh token (``refresh_expires_in``).
Browsers treat ``http://127.0.0.1`` and ``http://localhost`` as secure
contexts, so ``Secure`` cookies work on the loopback ``housify standalone``
(tests/web checks it in Chromium); on any other host the app needs HTTPS.

CSRF defence (OWASP Cross-Site Request Forgery Prevention Cheat Sheet,
"Employing Custom Request Headers for AJAX/API" plus "SameSite Cookie
Attribute" as defence in depth): the cookie is read only when the request
carries the custom header ``X-Refresh-Cookie: 1``. An HTML form on another site
cannot set a header, and a cross-origin ``fetch`` that sets one needs a CORS
preflight that housify-api never grants with credentials. A cross-site request
without the header is treated as a JSON-mode request without a token (400).
Clients that send no header (curl, the Python example, mobile) keep the JSON
mode unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.datastructures import Cookie

from housify_api.auth.schemas import TokenPair

REFRESH_COOKIE = "housify_refresh"
COOKIE_MODE_HEADER = "x-refresh-cookie"
TOKEN_PATH = "/auth/token"
#: Sent by the logout routes: the browser drops the (now revoked) refresh cookie.
CLEAR_REFRESH_COOKIE = Cookie(
    key=REFRESH_COOKIE,
    value="",
    path=TOKEN_PATH,
    max_age=0,
    secure=True,
    httponly=True,
    samesite="strict",
    description="cookie mode: removes the refresh-token cookie",
)


def cookie_mode(request: Request[Any, Any, Any]) -> bool:
    """True when the client asked for cookie mode with ``X-Refresh-Cookie: 1``."""
    return request.headers.get(COOKIE_MODE_HEADER, "") == "1"


def refresh_token_of(request: Request[Any, Any, Any], form_token: str) -> str:
    """The form's ``refresh_token``, else, in cookie mode only, the cookie's (CSRF: module docstring)."""
    if form_token or not cookie_mode(request):
        return form_token
    return request.cookies.get(REFRESH_COOKIE, "")


def token_response(request: Request[Any, Any, Any], pair: TokenPair) -> Response[TokenPair]:
    """``pair`` as JSON; in cookie mode the refresh token moves from the body into the cookie.

    Always ``Cache-Control: no-store`` (RFC 6749 §5.1; OWASP ASVS 4.0 §8.2.1): no cache keeps tokens.
    """
    if not cookie_mode(request):
        return Response(pair, headers={"Cache-Control": "no-store"})
    cookie = Cookie(
        key=REFRESH_COOKIE,
        value=pair.refresh_token,
        path=TOKEN_PATH,
        max_age=pair.refresh_expires_in,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return Response(
        msgspec.structs.replace(pair, refresh_token=""), cookies=[cookie], headers={"Cache-Control": "no-store"}
    )
