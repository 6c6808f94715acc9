"""The words the prompt assistant's model may add to a prompt (docs/ai-server.md, "Prompt assistant").

A 135M-parameter model writing free text dropped the user's words, wrote other
languages and repeated itself. Here it only *chooses*: its answer is
constrained by a grammar to pick details, things to avoid and a tip from these
lists, so whatever it picks is English, relevant to pictures of homes, and
never replaces what the user wrote (:mod:`housify_ai.assistant` composes the
prompt). The lists use the vocabulary interior-design and architecture
prompts commonly use for Stable Diffusion: materials, light, palette, camera.

Edit freely: each entry is one comma-separated prompt fragment, lowercase,
in words of a plain English dictionary (American spelling, as most image
captions are; ``bench/assistant_quality.py`` checks them against Debian's
``wamerican`` list),
at most a few CLIP tokens (the text encoder reads 77 tokens; the user's words
come first so a long list of details is what gets cut, never the wish).
"""

from __future__ import annotations

#: Details the model may add after the user's words (``"details"`` in its answer), by kind.
DETAIL_KINDS: dict[str, tuple[str, ...]] = {
    "light": (
        "soft natural light",
        "warm evening light",
        "bright daylight",
        "morning sunlight through the windows",
        "warm ambient lighting",
        "recessed ceiling lights",
        "pendant lights",
        "floor lamp",
        "candlelight",
    ),
    "materials": (
        "light oak floor",
        "dark walnut floor",
        "polished concrete floor",
        "herringbone parquet",
        "marble counters",
        "natural stone",
        "exposed brick wall",
        "white plaster walls",
        "wood panelling",
        "linen textiles",
        "wool rug",
        "velvet sofa",
        "leather armchair",
        "rattan furniture",
        "brass fixtures",
        "matte black fixtures",
        "ceramic tiles",
        "patterned floor tiles",
        "glass partition",
    ),
    "palette": (
        "warm neutral palette",
        "muted earth tones",
        "white and beige palette",
        "soft pastel colors",
        "deep green accents",
        "navy blue accents",
        "black and white contrast",
    ),
    "objects": (
        "indoor plants",
        "large potted plant",
        "bookshelves",
        "artwork on the walls",
        "fireplace",
        "large windows",
        "floor-to-ceiling windows",
        "high ceiling",
        "open plan layout",
        "built-in storage",
    ),
    "exterior": (
        "landscaped garden",
        "stone path",
        "wooden deck",
        "clear blue sky",
        "dusk with lit windows",
    ),
    "camera": (
        "wide-angle interior photo",
        "eye-level view",
        "architectural photography",
        "symmetrical composition",
        "realistic photo",
        "high detail",
        "sharp focus",
        "magazine quality",
    ),
}

#: At most this many details of a kind are added (a kind not named here: no limit but the
#: answer's five). Two light sources in one prompt contradict each other ("soft natural light,
#: warm evening light") and two palettes blur both; materials and objects combine.
DETAIL_LIMITS: dict[str, int] = {"light": 1, "palette": 1, "camera": 2}

#: Every detail, in :data:`DETAIL_KINDS`' order (the grammar's enum).
DETAILS: tuple[str, ...] = tuple(detail for details in DETAIL_KINDS.values() for detail in details)

#: A detail's kind (``"pendant lights"`` -> ``"light"``).
KIND_OF: dict[str, str] = {detail: kind for kind, details in DETAIL_KINDS.items() for detail in details}


#: What the model may add to the negative prompt (``"avoid"``), besides :data:`BASE_NEGATIVE`.
AVOID: tuple[str, ...] = (
    "clutter",
    "cables",
    "harsh shadows",
    "overexposed",
    "underexposed",
    "lens distortion",
    "fish-eye lens",
    "low resolution",
    "noise",
    "cartoon",
    "painting",
    "3d render",
    "garish colors",
    "duplicate furniture",
    "floating objects",
    "cropped furniture",
)

#: Always in the negative prompt (unless the user's own words name one of them, e.g. "people at dinner").
BASE_NEGATIVE: tuple[str, ...] = (
    "blurry",
    "distorted furniture",
    "extra windows",
    "text",
    "watermark",
    "people",
)

#: One of these is the answer's ``notes`` (the model picks; :data:`TIPS` [0] when it picks none).
TIPS: tuple[str, ...] = (
    "Name a material or colour you like to steer the look.",
    "Say what time of day it is for a different light.",
    "Pick a style preset to keep the picture consistent.",
    "Mention what must stay, like the window or the fireplace.",
    "Try several variations and keep the one you like.",
    "A shorter prompt often gives a cleaner picture.",
)
