"""Write the JSON Schema of the job-events WebSocket's messages to a file without starting a server.

Usage: ``.venv/bin/python web/scripts/dump_job_events.py web/job-events.schema.json`` (``npm run events``);
the same document as ``GET /schema/job-events.json``. ``web/scripts/gen_job_events.mjs`` turns it into
the web app's ``JobEvent`` type (``src/lib/job-events.d.ts``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(out: str) -> None:
    from housify_api.media.schemas import job_events_schema

    Path(out).write_text(json.dumps(job_events_schema(), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "web/job-events.schema.json")
