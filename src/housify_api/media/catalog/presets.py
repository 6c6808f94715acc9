"""Room-type and style presets: prompt and negative-prompt fragments that jobs and the prompt assistant use.

Stored in ``media_presets`` (admin-editable through ``/admin/presets``), seeded
at start-up with :data:`DEFAULT_PRESETS` where missing (an admin's edits and
deletions of other names are kept). A job naming ``room_type`` and/or
``style`` gets their fragments after its own prompt:
``"<prompt>, <room type fragment>, <style fragment>"`` (the same for the
negative prompt). Names are lowercase slugs; a preset is found by its name or,
case-insensitively, by its label.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta
from piccolo.columns import Column

from housify_api.media.catalog.tables import Preset

log = logging.getLogger("housify.media.catalog")

Kind = Literal["room_type", "style"]
NAME_PATTERN = "^[a-z0-9][a-z0-9-]{0,39}$"
Fragment = Annotated[str, Meta(max_length=400)]


class PresetIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``PUT /admin/presets/{kind}/{name}``."""

    label: Annotated[str, Meta(min_length=1, max_length=80)]
    prompt: Fragment = ""
    negative_prompt: Fragment = ""
    position: Annotated[int, Meta(ge=0, le=10_000)] = 0


class PresetOut(msgspec.Struct, kw_only=True):
    """A preset: ``name`` is what jobs send as ``room_type`` / ``style``; ``label`` is for people."""

    kind: str
    name: str
    label: str
    prompt: str
    negative_prompt: str
    position: int


class PresetsOut(msgspec.Struct, kw_only=True):
    """Body of ``GET /presets``, each list ordered by ``position``."""

    room_types: list[PresetOut]
    styles: list[PresetOut]


def _p(kind: str, name: str, label: str, prompt: str, negative: str, position: int) -> PresetOut:
    return PresetOut(kind=kind, name=name, label=label, prompt=prompt, negative_prompt=negative, position=position)


_ROOM_NEG = "people, text, watermark, distorted furniture, extra windows, blurry"
#: The seeded set (interior-design vocabulary as used by room-redesign tools; fragments kept short so the
#: CLIP text encoder's 77 tokens hold the user's own words too).
DEFAULT_PRESETS: tuple[PresetOut, ...] = (
    _p("room_type", "living-room", "living room", "living room interior, sofa, coffee table, rug", _ROOM_NEG, 10),
    _p("room_type", "bedroom", "bedroom", "bedroom interior, bed with linen, bedside tables", _ROOM_NEG, 20),
    _p("room_type", "kitchen", "kitchen", "kitchen interior, cabinets, worktop, kitchen island", _ROOM_NEG, 30),
    _p("room_type", "bathroom", "bathroom", "bathroom interior, tiles, vanity with basin, mirror", _ROOM_NEG, 40),
    _p(
        "room_type",
        "dining-room",
        "dining room",
        "dining room interior, dining table and chairs, pendant lamp",
        _ROOM_NEG,
        50,
    ),
    _p("room_type", "office", "office", "home office interior, desk, office chair, shelves", _ROOM_NEG, 60),
    _p(
        "room_type",
        "kids-room",
        "children's room",
        "children's room interior, small bed, toys, playful colours",
        _ROOM_NEG,
        70,
    ),
    _p(
        "room_type",
        "facade",
        "facade",
        "house facade, exterior architecture photo, front door, windows",
        "people, cars, text, watermark, distorted perspective",
        80,
    ),
    _p(
        "room_type",
        "garden",
        "garden",
        "garden, landscaping, plants, terrace, outdoor furniture",
        "people, text, watermark, dead plants",
        90,
    ),
    _p("style", "modern", "modern", "modern style, clean lines, neutral palette", "clutter, ornate", 10),
    _p(
        "style",
        "scandinavian",
        "scandinavian",
        "scandinavian style, light oak wood, white walls, cosy textiles",
        "dark heavy furniture",
        20,
    ),
    _p(
        "style",
        "industrial",
        "industrial",
        "industrial style, exposed brick, black metal, concrete",
        "pastel colours",
        30,
    ),
    _p(
        "style",
        "japandi",
        "japandi",
        "japandi style, natural wood, muted earth tones, minimal decor",
        "clutter, bright colours",
        40,
    ),
    _p(
        "style",
        "mid-century",
        "mid-century modern",
        "mid-century modern style, teak wood, tapered legs, retro colours",
        "ultra modern glossy surfaces",
        50,
    ),
    _p("style", "coastal", "coastal", "coastal style, white and light blue, rattan, linen, airy", "dark colours", 60),
    _p("style", "minimalist", "minimalist", "minimalist style, few objects, open space, soft daylight", "clutter", 70),
    _p("style", "bohemian", "bohemian", "bohemian style, layered rugs, plants, warm patterns", "sterile, empty", 80),
    _p("style", "rustic", "rustic", "rustic style, reclaimed wood, stone, warm light", "glossy plastic", 90),
)

_COLUMNS = (Preset.kind, Preset.name, Preset.label, Preset.prompt, Preset.negative_prompt, Preset.position)


async def seed_presets() -> int:
    """Insert the default presets whose (kind, name) is missing; returns how many (idempotent, race-safe)."""
    existing = {(row["kind"], row["name"]) for row in await Preset.select(Preset.kind, Preset.name)}
    added = 0
    for preset in DEFAULT_PRESETS:
        if (preset.kind, preset.name) in existing:
            continue
        inserted = (
            await Preset.insert(Preset(**msgspec.structs.asdict(preset)))
            .on_conflict(action="DO NOTHING")
            .returning(Preset._meta.primary_key)
        )
        added += len(inserted)
    if added:
        log.info("seeded %d preset(s)", added)
    return added


async def list_presets() -> PresetsOut:
    rows = await Preset.select(*_COLUMNS).order_by(Preset.position).order_by(Preset.name)
    out = [msgspec.convert(row, PresetOut) for row in rows]
    return PresetsOut(
        room_types=[p for p in out if p.kind == "room_type"], styles=[p for p in out if p.kind == "style"]
    )


async def find(kind: Kind, value: str) -> PresetOut:
    """The preset named ``value`` (or labelled so, any case).

    Raises:
        ValueError: ``"<kind>: unknown <kind> 'x'; known: ..."`` (the API answers 422 naming the field).
    """
    rows = await Preset.select(*_COLUMNS).where(Preset.kind == kind).order_by(Preset.position)
    wanted = value.strip().lower()
    for row in rows:
        if row["name"] == wanted or row["label"].lower() == wanted:
            return msgspec.convert(row, PresetOut)
    what = kind.replace("_", " ")
    raise ValueError(f"{kind}: unknown {what} {value!r}; known: {', '.join(r['name'] for r in rows) or 'none'}")


async def upsert(kind: Kind, name: str, data: PresetIn) -> PresetOut:
    values: dict[Column | str, Any] = {
        Preset.label: data.label,
        Preset.prompt: data.prompt,
        Preset.negative_prompt: data.negative_prompt,
        Preset.position: data.position,
        Preset.updated_at: dt.datetime.now(dt.UTC),
    }
    updated = (
        await Preset.update(values)
        .where((Preset.kind == kind) & (Preset.name == name))
        .returning(Preset._meta.primary_key)
    )
    if not updated:
        row = Preset({Preset.kind: kind, Preset.name: name, **values})  # type: ignore[dict-item]
        await Preset.insert(row).on_conflict(action="DO NOTHING")
        await Preset.update(values).where((Preset.kind == kind) & (Preset.name == name))
    return await find(kind, name)


async def remove(kind: Kind, name: str) -> bool:
    """Delete a preset; False when there was none."""
    return bool(
        await Preset.delete().where((Preset.kind == kind) & (Preset.name == name)).returning(Preset._meta.primary_key)
    )


def join_fragments(*parts: str | None) -> str:
    """Non-empty parts, stripped, joined with ``", "``."""
    return ", ".join(p.strip() for p in parts if p and p.strip())
