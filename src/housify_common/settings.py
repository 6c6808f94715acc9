"""Settings from ``HOUSIFY_*`` environment variables (docs/configuration.md).

Each service declares a ``msgspec.Struct`` whose field names are the variable
names without the ``HOUSIFY_`` prefix, lower-cased: the field ``database_url``
is read from ``HOUSIFY_DATABASE_URL``. A field may also be given as a file:
``HOUSIFY_SMTP_PASSWORD_FILE=/run/credentials/...`` fills ``smtp_password``
with the file's contents (trailing newline removed). NixOS passes secrets this
way so they never land in the Nix store or a unit's environment.

Settings form one tree. :class:`housify_common.shared_settings.CommonSettings`
holds what every service shares (database, Redis, data directory, image
storage, the AI server's URL); a service's Struct derives from it and may nest groups as Struct-typed fields
(``ApiSettings.media``). A nested group reads the same flat variables: its
fields' *encoded* names (``msgspec.field(name=...)``) are the variable names,
so ``media.max_image_pixels`` comes from ``HOUSIFY_MEDIA_MAX_IMAGE_PIXELS``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

PREFIX = "HOUSIFY_"

S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(ValueError):
    """A setting is missing, unreadable or invalid; the message names the variable."""


def env_name(field: str) -> str:
    """The environment variable of a settings field: ``database_url`` -> ``HOUSIFY_DATABASE_URL``."""
    return PREFIX + field.upper()


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``HOUSIFY_DATA_DIR`` or ``./var`` (absolute): where the embedded default keeps its files."""
    env = os.environ if environ is None else environ
    return Path(env.get("HOUSIFY_DATA_DIR") or "var").resolve()


def load_settings(cls: type[S], environ: Mapping[str, str] | None = None, /, **overrides: object) -> S:
    """Build ``cls`` from the environment.

    Values are converted with ``msgspec.convert(strict=False)``, so ``"8000"``
    becomes an int, ``"true"`` a bool (list fields take comma-separated
    values). Struct-typed fields are read from the same variables (module
    docstring). ``overrides`` win over the environment; they are keyed by
    variable name without prefix (``media_max_image_pixels=...``), at any depth.

    Raises:
        SettingsError: naming the variable when a ``*_FILE`` cannot be read, a
            value fails the field's type or constraints, or an override names no field.
    """
    env = os.environ if environ is None else environ
    raw = _read(cls, env)
    for name, value in overrides.items():
        if not _override(cls, raw, name, value):
            raise SettingsError(f"{env_name(name)}: no such setting in {cls.__name__}")
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_name_variable(str(exc))) from exc


def _struct_type(tp: object) -> type[msgspec.Struct] | None:
    return tp if isinstance(tp, type) and issubclass(tp, msgspec.Struct) else None


def _read(cls: type[msgspec.Struct], env: Mapping[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        nested = _struct_type(field.type)
        if nested is not None:
            raw[field.encode_name] = _read(nested, env)
            continue
        name = env_name(field.encode_name)
        file_var = name + "_FILE"
        if env.get(file_var):
            try:
                raw[field.encode_name] = Path(env[file_var]).read_text().rstrip("\r\n")
            except OSError as exc:
                raise SettingsError(f"{file_var}: cannot read {env[file_var]!r}: {exc.strerror}") from exc
        elif name in env:
            value: object = env[name]
            if _is_list_type(field.type):
                value = [item.strip() for item in str(value).split(",") if item.strip()]
            raw[field.encode_name] = value
    return raw


def _override(cls: type[msgspec.Struct], raw: dict[str, Any], name: str, value: object) -> bool:
    """Put ``value`` where the field encoded as ``name`` lives (this Struct or a nested one)."""
    for field in msgspec.structs.fields(cls):
        nested = _struct_type(field.type)
        if nested is None and name in (field.encode_name, field.name):
            raw[field.encode_name] = value
            return True
        if nested is not None and name == field.name and isinstance(value, msgspec.Struct):
            raw[field.encode_name] = msgspec.to_builtins(value)
            return True
    return any(
        _override(nested, raw[field.encode_name], name, value)
        for field in msgspec.structs.fields(cls)
        if (nested := _struct_type(field.type)) is not None
    )


def _is_list_type(tp: object) -> bool:
    origin = getattr(tp, "__origin__", None)
    return origin in (list, tuple, set, frozenset)


def _name_variable(message: str) -> str:
    """Rewrite msgspec's ``... - at `$.group.field```` into the variable's name."""
    marker = "at `$."
    if marker in message:
        head, _, tail = message.partition(marker)
        path = tail.split("`", 1)[0]
        field = [part.split("[", 1)[0] for part in path.split(".") if part.split("[", 1)[0]][-1]
        return f"{env_name(field)}: {head.rstrip(' -')}"
    return message
