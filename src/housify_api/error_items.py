"""The items of a 400/422 body's ``extra``: each names the field (``key``), the broken rule in words a
person reads (``message``) and as a token a program compares (``rule``).

Litestar's own validation items carry msgspec's text (``Expected `int` >= 64``); :func:`enrich`
rewrites them from the field's declared constraints (``width must be a multiple of 8 between 64
and 1024``), and gives the service-made items (``{"key", "message"}``) a ``rule``. ``key`` keeps its
meaning, so clients that read only ``key`` are unaffected.

Rules: ``required``, ``unknown_field``, ``type``, ``format`` (UUID, date), ``enum``, ``minimum``,
``maximum``, ``multiple_of``, ``min_length``, ``max_length``, ``pattern``; ``invalid`` for a service's
own rule (its ``message`` says which). The ``message`` of the constraint rules follows JSON Schema's
validation keywords (draft 2020-12 §6.2, §6.3), which the OpenAPI document publishes for each field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]+)`")
_EXPECTED = re.compile(r"Expected `([^`]+)`(.*)")

_NOUNS = {
    "int": "an integer",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "array": "a list",
    "object": "an object",
    "null": "null",
}


def _inspect_types(structs: Iterable[type]) -> Iterator[msgspec.inspect.StructType]:
    for struct in structs:
        info = msgspec.inspect.type_info(struct)
        if isinstance(info, msgspec.inspect.StructType):
            yield info


def _field(structs: Iterable[type], key: str) -> tuple[Any, str | None]:
    """The declared (innermost, non-null) type of ``key`` in the first Struct that has it, and its description."""
    name = key.split(".", 1)[0]
    for info in _inspect_types(structs):
        for field in info.fields:
            if field.encode_name == name:
                return _unwrap(field.type)
    return None, None


def _unwrap(t: Any, description: str | None = None) -> tuple[Any, str | None]:
    if isinstance(t, msgspec.inspect.Metadata):
        described = (t.extra_json_schema or {}).get("description")
        return _unwrap(t.type, description or described)
    if isinstance(t, msgspec.inspect.UnionType):
        others = [member for member in t.types if not isinstance(member, msgspec.inspect.NoneType)]
        if len(others) == 1:
            return _unwrap(others[0], description)
    return t, description


def _bounds(low: Any, high: Any, unit: str = "") -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}{unit}"
    if low is not None:
        return f"at least {low}{unit}"
    return f"at most {high}{unit}" if high is not None else ""


def _constraint_message(key: str, t: Any, description: str | None) -> str | None:
    """``<key> must be ...`` from every constraint of the field, or ``None`` when it has none."""
    if isinstance(t, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        low = t.ge if t.ge is not None else (f"more than {t.gt}" if t.gt is not None else None)
        high = t.le if t.le is not None else (f"less than {t.lt}" if t.lt is not None else None)
        parts = [f"a multiple of {t.multiple_of}"] if t.multiple_of else []
        if t.gt is not None or t.lt is not None:
            parts += [str(x) for x in (low, high) if x is not None]
        elif bounds := _bounds(low, high):
            parts.append(bounds)
        return f"{key} must be {' '.join(parts)}" if parts else None
    if isinstance(t, msgspec.inspect.StrType):
        if t.pattern is not None:
            return f"not a valid {description}" if description else f"{key} is not in the required form"
        bounds = _bounds(t.min_length, t.max_length, " characters")
        return f"{key} must be {bounds}" if bounds else None
    if isinstance(t, msgspec.inspect.ListType | msgspec.inspect.SetType):
        bounds = _bounds(t.min_length, t.max_length, " items")
        return f"{key} must have {bounds}" if bounds else None
    return None


def _rule_of(text: str) -> str:
    if "multiple of" in text:
        return "multiple_of"
    if "matching regex" in text:
        return "pattern"
    if "of length >" in text:
        return "min_length"
    if "of length <" in text:
        return "max_length"
    if ">" in text:
        return "minimum"
    if "<" in text:
        return "maximum"
    return "type"


def describe(key: str, text: str, structs: Iterable[type]) -> dict[str, str]:
    """``{"key", "message", "rule"}`` for msgspec's error ``text`` about ``key`` of one of ``structs``."""
    structs = tuple(structs)
    if match := _MISSING.search(text):
        name = match.group(1)
        return {"key": name, "message": f"{name} is required", "rule": "required"}
    if match := _UNKNOWN.search(text):
        name = match.group(1)
        return {"key": name, "message": f"{name} is not a field of this request", "rule": "unknown_field"}
    t, description = _field(structs, key)
    if text.startswith(("Invalid enum value", "Invalid value")):
        if isinstance(t, msgspec.inspect.LiteralType | msgspec.inspect.EnumType):
            values = t.values if isinstance(t, msgspec.inspect.LiteralType) else [m.value for m in t.cls]
            return {"key": key, "message": f"{key} must be one of: {', '.join(map(str, values))}", "rule": "enum"}
        return {"key": key, "message": f"{key}: {text.lower()}", "rule": "enum"}
    if text.startswith("Invalid"):  # Invalid UUID, Invalid RFC3339 encoded date ...
        what = text.removeprefix("Invalid ").split(" - ")[0]
        return {"key": key, "message": f"{key} must be a valid {what}", "rule": "format"}
    if match := _EXPECTED.match(text):
        expected, rest = match.group(1), match.group(2)
        if rest.startswith(", got"):
            noun = " or ".join(_NOUNS.get(part.strip(), part.strip()) for part in expected.split("|"))
            return {"key": key, "message": f"{key} must be {noun}", "rule": "type"}
        rule = _rule_of(rest)
        message = _constraint_message(key, t, description) or f"{key} must be {expected}{rest}"
        return {"key": key, "message": message, "rule": rule}
    return {"key": key, "message": text, "rule": "invalid"}


def enrich(items: Any, structs: Iterable[type]) -> Any:
    """``items`` (an ``extra`` list) with ``message`` and ``rule`` on each dict item; anything else unchanged.

    An item from Litestar's signature check (it has ``source``) is rewritten by :func:`describe`; a
    service's own item keeps its ``message`` and gets ``rule`` ``invalid`` unless it names one.
    """
    if not isinstance(items, list):
        return items
    structs = tuple(structs)
    out: list[Any] = []
    for item in items:
        if not isinstance(item, dict) or "message" not in item:
            out.append(item)
            continue
        if "source" in item and "rule" not in item:
            described = describe(str(item.get("key", "")), str(item["message"]), structs)
            out.append({**item, **described})
        else:
            out.append({"rule": "invalid", **item})
    return out
