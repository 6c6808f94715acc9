"""Settings from ``HOUSIFY_*`` environment variables (DESIGN.md §8).

Each service declares a ``msgspec.Struct`` whose field names are the variable
names without the ``HOUSIFY_`` prefix, lower-cased: the field ``database_url``
is read from ``HOUSIFY_DATABASE_URL``. A field may also be given as a file:
``HOUSIFY_SMTP_PASSWORD_FILE=/run/credentials/...`` fills ``smtp_password``
with the file's contents (trailing newline removed). NixOS passes secrets this
way so they never land in the Nix store or a unit's environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import msgspec

PREFIX = "HOUSIFY_"

S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(ValueError):
    """A setting is missing, unreadable or invalid; the message names the variable."""


def env_name(field: str) -> str:
    """The environment variable of a settings field: ``database_url`` -> ``HOUSIFY_DATABASE_URL``."""
    return PREFIX + field.upper()


def load_settings(cls: type[S], environ: Mapping[str, str] | None = None, **overrides: object) -> S:
    """Build ``cls`` from the environment.

    Values are converted with ``msgspec.convert(strict=False)``, so ``"8000"``
    becomes an int, ``"true"`` a bool and ``"a,b"`` stays a string (list fields
    take comma-separated values). ``overrides`` win over the environment.

    Raises:
        SettingsError: naming the variable when a ``*_FILE`` cannot be read or a
            value fails the field's type or constraints.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for field in msgspec.structs.fields(cls):
        name = env_name(field.name)
        file_var = name + "_FILE"
        if file_var in env and env[file_var]:
            try:
                raw[field.name] = Path(env[file_var]).read_text().rstrip("\r\n")
            except OSError as exc:
                raise SettingsError(f"{file_var}: cannot read {env[file_var]!r}: {exc.strerror}") from exc
        elif name in env:
            value: object = env[name]
            if _is_list_type(field.type):
                value = [item.strip() for item in str(value).split(",") if item.strip()]
            raw[field.name] = value
    raw.update(overrides)
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name_variable(str(exc))) from exc


def _is_list_type(tp: object) -> bool:
    origin = getattr(tp, "__origin__", None)
    return origin in (list, tuple, set, frozenset)


def _name_variable(message: str) -> str:
    """Rewrite msgspec's ``... - at `$.field```` into the variable's name."""
    marker = "at `$."
    if marker in message:
        head, _, tail = message.partition(marker)
        field = tail.split("`", 1)[0].split("[", 1)[0].split(".", 1)[0]
        return f"{env_name(field)}: {head.rstrip(' -')}"
    return message
