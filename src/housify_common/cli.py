"""What every Housify command line shares: logging set-up and the one-line error for bad settings.

``housify``, ``housify-api``, ``housify-ai`` and ``housify-soap`` run their
command through :func:`run_command`: a bad setting (a
:class:`~housify_common.settings.SettingsError`, which names the variable) or
another error the command declares prints ``<prog>: <message>`` on stderr and
exits with status 2 (the usage-error status of argparse), without a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from housify_common.settings import SettingsError

#: Exit status for a configuration error, as argparse uses for usage errors.
EXIT_CONFIG = 2
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """Root logging at ``HOUSIFY_LOG_LEVEL`` (default ``INFO``) on stderr."""
    level = os.environ.get("HOUSIFY_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level if level in logging.getLevelNamesMapping() else "INFO", format=LOG_FORMAT)


def run_command(prog: str, command: Callable[[], int], *, errors: tuple[type[BaseException], ...] = ()) -> int:
    """Run ``command`` and return its exit status; configuration errors become one line and status 2.

    Args:
        prog: the command's name, the message's prefix.
        command: the work; returns the exit status.
        errors: further exception types reported the same way (e.g. a model that will not load).
    """
    configure_logging()
    reported: tuple[type[BaseException], ...] = (SettingsError, *errors)
    try:
        return command()
    except reported as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
