"""piccolo configuration for one process running all three services.

Used by ``housify standalone`` (the embedded default) and by the test suite:
one database holds the tables of all three apps, whose names do not overlap.
Production runs each service with its own ``housify_<svc>.piccolo_conf``.
"""

from piccolo.conf.apps import AppRegistry

from housify_common.db import database_url_from_env, engine_from_url

DB = engine_from_url(database_url_from_env())

APP_REGISTRY = AppRegistry(
    apps=[
        "housify_api.piccolo_app",
        "housify_api.media.piccolo_app",
        "housify_api.billing.piccolo_app",
        "housify_ai.piccolo_app",
        "housify_soap.piccolo_app",
    ]
)
