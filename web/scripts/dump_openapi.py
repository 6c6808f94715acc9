"""Write housify-api's OpenAPI document to a file without starting a server.

Usage: ``.venv/bin/python web/scripts/dump_openapi.py web/openapi.json`` (``npm run schema``).
The web app's typed client (``src/lib/api-schema.d.ts``) is generated from that file, so a
changed route or schema breaks ``npm run build`` (svelte-check) instead of a user's screen.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def main(out: str) -> None:
    # A throwaway data dir: creating the app may generate development JWT keys there.
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["HOUSIFY_DATA_DIR"] = data_dir
        from housify_api.app import create_app

        schema = create_app().openapi_schema.to_schema()
    Path(out).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "web/openapi.json")
