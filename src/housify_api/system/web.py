"""The web app (``web/``, built by ``scripts/bootstrap``) served by housify-api itself.

``GET /`` answers the app's ``index.html`` to browsers (``Accept`` prefers
``text/html``) and the JSON welcome to every other client, so API clients and
the existing tests see no change. Vite's content-hashed bundles under
``/assets/`` are cached for a year (``immutable``: RFC 8246); ``index.html``,
the service worker and the manifest are revalidated on every load
(``no-cache``), so a new release shows at the next visit.

The folder is ``HOUSIFY_WEB_DIR``, else the checkout's ``web/dist`` when it
exists (an editable install); without a built app ``/`` stays JSON only.
In production nginx serves the same folder (``nixos/packages/web.nix``).

Every HTML answer carries a Content-Security-Policy without ``unsafe-inline``
and with no host but the app's own (OWASP Content Security Policy Cheat Sheet):
images may be ``blob:`` (private pictures fetched with the access token) and
``data:`` (the worker's base64 previews).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.static_files import create_static_files_router

PUBLIC = {"exclude_from_auth": True, "offline": True}
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
#: Hashed bundles never change under their name (RFC 9111 max-age, RFC 8246 immutable).
IMMUTABLE = CacheControlHeader(public=True, max_age=31_536_000, immutable=True)
#: Entry points: always revalidated, so a deploy reaches returning visitors at once.
REVALIDATE = "no-cache"
#: Unhashed files at the site root, each with its media type (the service worker must sit at ``/``
#: to control the whole app: Service Workers §"service worker script scope").
ROOT_FILES = {
    "sw.js": "text/javascript",
    "manifest.webmanifest": "application/manifest+json",
    "favicon.svg": "image/svg+xml",
    "robots.txt": "text/plain",
    # The privacy policy and terms (docs/billing.md): static pages the operator replaces in the web folder.
    "privacy.html": "text/html",
    "terms.html": "text/html",
}


def web_dir(configured: str) -> Path | None:
    """The built app's folder (has ``index.html``), or ``None`` when there is none."""
    candidates = [Path(configured)] if configured else [Path(__file__).resolve().parents[3] / "web" / "dist"]
    for path in candidates:
        if (path / "index.html").is_file():
            return path
    return None


def wants_html(request: Request[Any, Any, Any]) -> bool:
    """True when the client ranks ``text/html`` above ``application/json`` (RFC 9110 §12.5.1)."""
    return request.accept.best_match(["application/json", "text/html"], default="application/json") == "text/html"


def index_response(root: Path) -> Response[bytes]:
    return Response(
        (root / "index.html").read_bytes(),
        media_type="text/html",
        headers={"Content-Security-Policy": CSP, "Cache-Control": REVALIDATE},
    )


@get("/{name:str}", opt=PUBLIC, include_in_schema=False, name="web-root-file")
async def root_file(name: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
    """One of :data:`ROOT_FILES` from the built app; 404 for anything else."""
    root: Path | None = request.app.state.get("web_dir")
    if root is None or name not in ROOT_FILES or not (root / name).is_file():
        raise NotFoundException(f"no such file: /{name}")
    headers = {"Cache-Control": REVALIDATE}
    if name == "sw.js":
        headers["Service-Worker-Allowed"] = "/"
    return Response((root / name).read_bytes(), media_type=ROOT_FILES[name], headers=headers)


def web_routers(root: Path | None, example_dir: str = "") -> list[Any]:
    """Route handlers serving the app in ``root``: none without a built app.

    ``/example`` is the front page's before/after pair (``example.json`` names the two pictures
    and the caption): ``example_dir`` (``HOUSIFY_WEB_EXAMPLE_DIR``, the operator's own pair) when
    set, else the one the app ships (``web/public/example``, made by ``web/scripts/make_example.py``).
    """
    if root is None:
        return []
    handlers: list[Any] = [Router(path="/", route_handlers=[root_file])]
    folders = {
        "assets": root / "assets",
        "icons": root / "icons",
        "example": Path(example_dir) if example_dir else root / "example",
    }
    for folder, directory in folders.items():
        if directory.is_dir():
            handlers.append(
                create_static_files_router(
                    path=f"/{folder}",
                    directories=[directory],
                    opt=PUBLIC,
                    name=f"web-{folder}",
                    cache_control=IMMUTABLE if folder == "assets" else CacheControlHeader(public=True, max_age=86_400),
                )
            )
    return handlers
