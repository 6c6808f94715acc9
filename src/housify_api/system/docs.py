"""OpenAPI 3.1 at ``/schema/openapi.json`` with Swagger UI (``/schema/swagger``) and ReDoc
(``/schema/redoc``), served with no CDN: the UI bundles come from the
``drf-spectacular-sidecar`` wheel (swagger-ui-dist and redoc's standalone build,
plain files; its Django dependency is never imported) and are served under
``/schema/assets``. The favicon link Litestar would fetch from a CDN is left out.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Contact
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

ASSETS = "/schema/assets"


def sidecar_static_dir() -> Path:
    """The sidecar's ``static/drf_spectacular_sidecar`` directory, found without importing the package."""
    spec = importlib.util.find_spec("drf_spectacular_sidecar")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("drf-spectacular-sidecar is not installed (it ships the offline Swagger UI/ReDoc files)")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "drf_spectacular_sidecar"


def docs_assets_router() -> ControllerRouterHandler:
    return create_static_files_router(
        path=ASSETS, directories=[sidecar_static_dir()], opt={"exclude_from_auth": True}, include_in_schema=False
    )


def openapi_config(version: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Housify API",
        version=version,
        description="Pictures of homes on subscription. Authenticate with POST /auth/token (OAuth2 password grant) "
        "or an X-API-Key; see docs/authentication.md.",
        contact=Contact(name="Housify"),
        path="/schema",
        render_plugins=[
            SwaggerRenderPlugin(
                path="/swagger",
                js_url=f"{ASSETS}/swagger-ui-dist/swagger-ui-bundle.js",
                css_url=f"{ASSETS}/swagger-ui-dist/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS}/swagger-ui-dist/swagger-ui-standalone-preset.js",
                favicon="",
            ),
            RedocRenderPlugin(
                path="/redoc", js_url=f"{ASSETS}/redoc/bundles/redoc.standalone.js", favicon="", google_fonts=False
            ),
            JsonRenderPlugin(path="/openapi.json"),
            YamlRenderPlugin(path="/openapi.yaml"),
        ],
    )
