"""piccolo configuration when housify-api runs as its own process (production).

The engine comes from ``HOUSIFY_DATABASE_URL`` (the embedded SQLite default
when unset); the registry holds this service's app only, so its migrations run
against its own database.
"""

from piccolo.conf.apps import AppRegistry

from housify_common.db import database_url_from_env, engine_from_url

DB = engine_from_url(database_url_from_env())

APP_REGISTRY = AppRegistry(
    apps=["housify_api.piccolo_app", "housify_api.media.piccolo_app", "housify_api.billing.piccolo_app"]
)
