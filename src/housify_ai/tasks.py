"""The task registry: one declaration per job kind housify-ai runs.

Each :class:`TaskSpec` says everything the rest of Housify needs to know about
a job kind, and everything else is derived from it:

* ``name`` — the job's ``task`` and the user's access-right (service) name
  (``housify_api.auth.identity.SERVICES``);
* what it needs — ``prompt``, ``source`` (an image of the user), ``mask``
  (white = repaint), ``control`` (a control image), each ``"required"``,
  ``"optional"`` or ``"none"``;
* ``params`` — its msgspec parameter Struct (constraints in ``Meta``, defaults
  filled in); the API's ``POST /jobs`` body offers each field once
  (``housify_api.media.schemas.JobIn`` is generated from these Structs);
* ``levels`` — the subscription levels allowed to run it by default (``None``:
  every level); admins change this per level (``PUT /admin/levels/{level}/tasks/{task}``);
* ``handler`` — ``"module:factory"`` of the worker-side handler, imported only
  by the worker (:func:`load_handler`), so this module stays importable by the
  API without torch;
* ``check`` — an optional extra rule over the parameters and the source image's
  size (e.g. ``upscale``'s output cap), raising ``ValueError("field: rule")``.
* ``deadline`` — seconds a job of it may run on a worker (from its ``started``
  event) before it fails with ``deadline: ...`` and stops counting against the
  user's hourly limit; an operator changes it with ``HOUSIFY_AI_DEADLINES``.
* ``offered`` — an optional rule over the parameters, what the live workers
  report they loaded (their ``describe()`` entries, from ``ai:workers``) and the
  job's level, raising ``ValueError("field: rule")`` for what no worker offers
  (``redesign``'s control kinds, a LoRA adapter, one not offered to the level),
  so the API refuses such a job instead of a worker failing it.

How to add a task (``upscale`` took three files):

1. declare its parameter Struct and a :class:`TaskSpec` here and append it to
   :data:`REGISTRY` (this module imports nothing heavy);
2. write its handler in its own worker-side module: a class with
   ``async create(settings) -> handler`` whose instances are
   ``async (JobContext) -> JobResult`` (see :mod:`housify_ai.upscale`);
3. test it (``tests/ai/``).

The API schema, its validation, the access-right name, granting the new right
to existing users (``housify_api.media.catalog.access``, once per task name)
and the worker's dispatch follow without further edits.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import Meta

from housify_ai.control import ControlKind

# Limits. Sides are multiples of 8 because the VAE downsamples by 8 (Stable
# Diffusion's latent space); 64..1024 keeps a job inside one GPU's memory.
MIN_SIDE = 64
MAX_SIDE = 1024
MAX_STEPS = 100
MAX_PROMPT_CHARS = 2000
MAX_GUIDANCE = 30.0
MAX_SEED = 2**32 - 1
MAX_UPSCALE_SIDE = 4096
"""Longest side of an ``upscale`` output, pixels (a 1024 px picture at x4; ~50 MB as RGB in memory)."""

Need = Literal["required", "optional", "none"]
#: The image inputs a task may take (a :class:`TaskSpec` field each, with its :data:`Need`).
INPUTS: tuple[str, ...] = ("source", "mask", "control")
#: The field a request Struct's tag goes in (``POST /jobs`` bodies, the queue's requests).
TAG_FIELD = "task"
#: The task of a body or request that names none.
DEFAULT_TASK = "text2img"
Side = Annotated[int, Meta(ge=MIN_SIDE, le=MAX_SIDE, multiple_of=8, description="pixels, a multiple of 8")]
Steps = Annotated[int, Meta(ge=1, le=MAX_STEPS, description="denoising steps")]
Guidance = Annotated[float, Meta(ge=0.0, le=MAX_GUIDANCE, description="classifier-free guidance scale")]
Strength = Annotated[
    float, Meta(gt=0.0, le=1.0, description="how far img2img/inpaint move away from the source (0, 1]")
]
LoraName = Annotated[
    str, Meta(pattern="^[A-Za-z0-9_-]{1,64}$", description="a LoRA style adapter the AI workers offer (GET /models)")
]
LoraScale = Annotated[float, Meta(ge=0.0, le=2.0, description="the adapter's weight; default: the operator's")]


class TextToImageParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Parameters of a Stable Diffusion run: output ``width`` x ``height`` (pixels), ``steps``, ``guidance_scale``."""

    width: Side = 512
    height: Side = 512
    steps: Steps = 25
    guidance_scale: Guidance = 7.5
    lora: LoraName | None = None
    lora_scale: LoraScale | None = None


class ImageToImageParams(TextToImageParams, kw_only=True, forbid_unknown_fields=True):
    """:class:`TextToImageParams` plus ``strength``; the source (and mask) are resized to ``width`` x ``height``."""

    strength: Strength = 0.75


class UpscaleParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``scale``: 2 or 4 (Real-ESRGAN x4plus; x2 is its x4 output resized down with Lanczos)."""

    scale: Annotated[Literal[2, 4], Meta(description="enlargement factor")] = 4


ControlScale = Annotated[float, Meta(ge=0.0, le=2.0, description="how strongly a ControlNet steers (0 = not at all)")]
Fraction = Annotated[float, Meta(ge=0.0, le=1.0, description="a fraction of the denoising steps")]


class RedesignParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How to redesign a photo (the ``redesign`` task): keep the room of the source photo — walls,
    windows, doors — and repaint the rest after the room type, style and prompt. Defaults follow
    common practice with Stable Diffusion 1.5 ControlNets (the ControlNet 1.1 model cards,
    diffusers' ControlNet guide): conditioning scale 1.0 over the whole denoising, 25 steps, guidance 7.5.

    * ``controls`` — control kinds, 1 to 4 distinct, in order (``lines``: straight
      lines, no weights, the default; ``mlsd``; ``depth``; ``segmentation``);
      several run as one ``MultiControlNetModel``.
    * ``controlnet_conditioning_scale`` — one per control, or one for all.
    * ``control_guidance_start`` / ``control_guidance_end`` — the part of the
      denoising (fractions, start < end) during which the ControlNets steer.
    * ``restyle`` — ``room``: a new picture of the whole room (structure from the
      controls); ``furniture``: only what is not the room's shell changes (an
      inpainting mask from the segmentation model's "keep" classes).
    * ``strength`` — 1.0 draws from noise guided by the controls; below 1
      starts from the photo (img2img), keeping more of its colours and light.
    * ``long_side`` — output size in pixels of the longer side; the other follows
      the photo's aspect ratio (both multiples of 8).
    """

    controls: Annotated[list[ControlKind], Meta(min_length=1, max_length=4)] = msgspec.field(
        default_factory=lambda: ["lines"]
    )
    controlnet_conditioning_scale: ControlScale | Annotated[list[ControlScale], Meta(min_length=1, max_length=4)] = 1.0
    control_guidance_start: Fraction = 0.0
    control_guidance_end: Fraction = 1.0
    restyle: Literal["room", "furniture"] = "room"
    strength: Strength = 1.0
    long_side: Annotated[
        int, Meta(ge=MIN_SIDE, le=MAX_SIDE, multiple_of=8, description="pixels of the longer side")
    ] = 512
    steps: Steps = 25
    guidance_scale: Guidance = 7.5
    lora: LoraName | None = None
    lora_scale: LoraScale | None = None

    def __post_init__(self) -> None:
        if len(set(self.controls)) != len(self.controls):
            raise ValueError("controls: each control kind at most once")
        scale = self.controlnet_conditioning_scale
        if isinstance(scale, list) and len(scale) != len(self.controls):
            raise ValueError(
                f"controlnet_conditioning_scale: one value per control ({len(self.controls)}), or one for all"
            )
        if self.control_guidance_start >= self.control_guidance_end:
            raise ValueError("control_guidance_start: must be below control_guidance_end")
        _check_partial_steps(self, None)

    def scales(self) -> list[float]:
        """One conditioning scale per control."""
        scale = self.controlnet_conditioning_scale
        return list(scale) if isinstance(scale, list) else [float(scale)] * len(self.controls)

    def denoising_steps(self) -> int:
        """Steps the run makes: diffusers runs the last ``steps x strength`` of them when starting from the photo."""
        return _partial_steps(self)

    def size_for(self, source_size: tuple[int, int]) -> tuple[int, int]:
        """Output (width, height): the longer side ``long_side``, the photo's aspect ratio, multiples of 8, at least 64."""
        width, height = source_size
        ratio = self.long_side / max(width, height)

        def side(value: float) -> int:
            return max(MIN_SIDE, min(MAX_SIDE, round(value * ratio / 8) * 8))

        return side(width), side(height)


def _offers(workers: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """The ``describe()`` entries of kind ``kind`` the live workers report."""
    return [m for w in workers for m in w.get("models", []) if isinstance(m, dict) and m.get("kind") == kind]


def _lora_offered(params: Any, workers: list[dict[str, Any]], level: str) -> None:
    """``lora`` must be an adapter some live worker offers to ``level`` (``HOUSIFY_AI_LORAS``)."""
    if params.lora is None:
        return
    adapters = [a for m in _offers(workers, "diffusion") for a in m.get("loras", []) if a.get("name") == params.lora]
    if not adapters:
        offered = sorted({a.get("name") for m in _offers(workers, "diffusion") for a in m.get("loras", [])})
        raise ValueError(
            f"lora: no adapter {params.lora!r} on the AI workers (offered: {', '.join(offered) or 'none'})"
        )
    if not any(not a.get("levels") or level in a["levels"] for a in adapters):
        raise ValueError(f"lora: adapter {params.lora!r} is not offered to your level ({level})")


def _redesign_offered(params: RedesignParams, workers: list[dict[str, Any]], level: str) -> None:
    """``controls`` / ``restyle`` must be offered by some live worker (their ``kind: redesign`` entries), and ``lora``."""
    offers = _offers(workers, "redesign")
    controls = {c for m in offers for c in m.get("controls", [])}
    missing = [c for c in params.controls if c not in controls]
    if missing:
        raise ValueError(
            f"controls: {', '.join(missing)} not offered by the AI workers (offered: {', '.join(sorted(controls)) or 'none'})"
        )
    if params.restyle not in {r for m in offers for r in m.get("restyle", [])}:
        raise ValueError(f"restyle: {params.restyle} not offered by the AI workers (it needs the segmentation model)")
    _lora_offered(params, workers, level)


def _partial_steps(params: Any) -> int:
    """img2img and inpaint run only the last ``steps x strength`` steps (diffusers' rule)."""
    return int(params.steps * params.strength)


def _check_partial_steps(params: Any, source_size: tuple[int, int] | None) -> None:
    """The one rule over ``steps`` and ``strength``: at least one denoising step is run."""
    if _partial_steps(params) < 1:
        raise ValueError("strength: steps x strength must be at least 1")


def _check_upscale(params: Any, source_size: tuple[int, int] | None) -> None:
    if source_size is None:
        return
    width, height = source_size[0] * params.scale, source_size[1] * params.scale
    if max(width, height) > MAX_UPSCALE_SIDE:
        raise ValueError(
            f"scale: x{params.scale} of a {source_size[0]}x{source_size[1]} picture gives {width}x{height}; "
            f"the longest side may be at most {MAX_UPSCALE_SIDE} pixels"
        )


@dataclass(frozen=True)
class TaskSpec:
    """One job kind (see the module docstring for the meaning of each field)."""

    name: str
    summary: str
    params: type[msgspec.Struct]
    handler: str
    prompt: Need = "none"
    source: Need = "none"
    mask: Need = "none"
    control: Need = "none"
    levels: tuple[str, ...] | None = None
    check: Callable[[Any, tuple[int, int] | None], None] | None = None
    total_steps: Callable[[Any], int] | None = None
    offered: Callable[[Any, list[dict[str, Any]], str], None] | None = None
    deadline: float = 1800.0

    def check_inputs(
        self, *, prompt: str | None, negative_prompt: str, given: Mapping[str, bool], names: Mapping[str, str]
    ) -> None:
        """The one place of the rule "which inputs a task needs" (``prompt``, :data:`INPUTS`).

        ``given``: input (``source``, ``mask``, ``control``) -> whether the job has it; ``names``: input ->
        the field that carries it where the check runs (``source_image_id`` in the API's body,
        ``source_key`` in the queue's request). ``prompt`` ``None``: not known yet (the API adds preset
        fragments later), so only "takes no prompt" is checked.

        Raises:
            ValueError: ``"<field>: <rule>"`` for the first input that is missing or not taken.
        """
        for need in INPUTS:
            field, wanted = names[need], getattr(self, need)
            if wanted == "required" and not given.get(need):
                raise ValueError(f"{field}: required for task {self.name}")
            if wanted == "none" and given.get(need):
                raise ValueError(f"{field}: task {self.name} takes no {need} image")
        if self.prompt == "none" and (prompt or negative_prompt):
            raise ValueError(f"prompt: task {self.name} takes no prompt")
        if self.prompt == "required" and prompt is not None and not prompt.strip():
            raise ValueError(f"prompt: required (not blank) for task {self.name}")

    def parse_params(self, data: Mapping[str, Any] | msgspec.Struct) -> Any:
        """``data`` validated into :attr:`params` (defaults filled in); ``msgspec.ValidationError`` names the field."""
        if isinstance(data, msgspec.Struct):
            return msgspec.convert(msgspec.to_builtins(data), self.params)
        return msgspec.convert(dict(data), self.params)

    def steps_of(self, params: Any) -> int:
        """How many progress steps a job reports (``progress`` events count up to it)."""
        if self.total_steps is not None:
            return max(1, self.total_steps(params))
        return int(getattr(params, "steps", 1))

    def param_names(self) -> tuple[str, ...]:
        return self.params.__struct_fields__

    @property
    def uses_presets(self) -> bool:
        """Room-type and style presets add prompt fragments, so a task without a prompt takes none."""
        return self.prompt != "none"


_DIFFUSION = "housify_ai.jobs:ImageJobHandler"

REGISTRY: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "text2img",
            "a picture from a prompt",
            TextToImageParams,
            _DIFFUSION,
            prompt="required",
            offered=_lora_offered,
        ),
        TaskSpec(
            "img2img",
            "a picture changed after a prompt",
            ImageToImageParams,
            _DIFFUSION,
            prompt="required",
            source="required",
            check=_check_partial_steps,
            total_steps=_partial_steps,
            offered=_lora_offered,
        ),
        TaskSpec(
            "inpaint",
            "the masked part of a picture repainted after a prompt",
            ImageToImageParams,
            _DIFFUSION,
            prompt="required",
            source="required",
            mask="required",
            check=_check_partial_steps,
            total_steps=_partial_steps,
            offered=_lora_offered,
        ),
        TaskSpec(
            "redesign",
            "a photo of a room redrawn in a new style, keeping its walls, windows and doors (ControlNet)",
            RedesignParams,
            "housify_ai.redesign:RedesignHandler",
            prompt="optional",
            source="required",
            total_steps=_partial_steps,
            offered=_redesign_offered,
        ),
        TaskSpec(
            "upscale",
            "one of the user's pictures enlarged x2 or x4 (Real-ESRGAN x4plus)",
            UpscaleParams,
            "housify_ai.upscale:UpscaleHandler",
            source="required",
            levels=("Pro-Tier",),
            check=_check_upscale,
            # x4 of a 1024 px picture: 3-10 min on two quiet CPU cores, more than 20 min on a busy machine
            # with its niced child (bench/README.md, "/health during an upscale"): the common 1800 s.
        ),
    )
}
"""Task name -> declaration, in the order the API documents them."""


def task_names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get_task(name: str) -> TaskSpec:
    """The declaration of ``name``; ``ValueError("task: ...")`` listing the known tasks otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"task: unknown task {name!r}; known: {', '.join(REGISTRY)}") from None


def deadlines(overrides: list[str] | tuple[str, ...] = ()) -> dict[str, float]:
    """Task name -> deadline in seconds: each task's declared ``deadline``, then ``overrides``
    (``HOUSIFY_AI_DEADLINES``: ``task=seconds`` items).

    Raises:
        ValueError: ``HOUSIFY_AI_DEADLINES: ...`` naming the item that is not ``task=seconds`` with a known
            task and seconds > 0.
    """
    out = {name: spec.deadline for name, spec in REGISTRY.items()}
    for item in overrides:
        name, _, value = item.partition("=")
        try:
            seconds = float(value)
        except ValueError:
            seconds = 0.0
        if name.strip() not in REGISTRY or not seconds > 0:
            raise ValueError(
                f"HOUSIFY_AI_DEADLINES: {item!r} is not task=seconds with a known task ({', '.join(REGISTRY)}) and seconds > 0"
            )
        out[name.strip()] = seconds
    return out


def allowed_by_default(spec: TaskSpec, level: str) -> bool:
    """Whether ``level`` may run ``spec`` when no admin has set it for that level."""
    return spec.levels is None or level in spec.levels


def load_handler(spec: TaskSpec) -> Any:
    """The worker-side factory named by ``spec.handler`` (imports its module: torch etc. on the worker only)."""
    module, _, attribute = spec.handler.partition(":")
    return getattr(importlib.import_module(module), attribute)


#: A field of a generated Struct: ``(name, type, default)`` or ``(name, type)`` (required), as ``msgspec.defstruct``.
FieldSpec = tuple[str, Any] | tuple[str, Any, Any]


class TaggedByTask:
    """The task of a Struct :func:`tagged_structs` made: mixed into its ``base``
    (``class JobRequest(msgspec.Struct, TaggedByTask, ...)``), so the queue's requests and the API's
    ``POST /jobs`` bodies name their task the same way. ``__slots__`` is empty, as msgspec requires of a
    mixin (no fields, no instance state)."""

    __slots__ = ()
    if TYPE_CHECKING:  # what msgspec.Struct gives the class this is mixed into
        __struct_config__: ClassVar[msgspec.structs.StructConfig]

    @property
    def task(self) -> str:
        """The task's name: this Struct's tag (:data:`TAG_FIELD`)."""
        return str(type(self).__struct_config__.tag)

    @property
    def spec(self) -> TaskSpec:
        """The task's declaration (:data:`REGISTRY`)."""
        return get_task(self.task)


def tagged_structs(
    suffix: str,
    base: type[msgspec.Struct],
    fields_of: Callable[[TaskSpec], list[FieldSpec]],
    *,
    module: str,
    registry: Mapping[str, TaskSpec] | None = None,
) -> dict[str, type[msgspec.Struct]]:
    """One Struct per registered task (task name -> Struct), each a subclass of ``base`` with the fields
    ``fields_of(spec)`` and tagged ``task=<name>`` (:data:`TAG_FIELD`), so that
    ``typing.Union[*structs.values()]`` is a msgspec tagged union: decoding picks the Struct by ``task``
    and validates only that task's fields, so two tasks may declare the same parameter name with
    different types. Names are ``<Task><suffix>`` (``Text2imgJobIn``); ``forbid_unknown_fields``,
    ``kw_only`` and the other options are ``base``'s.
    """
    specs = REGISTRY if registry is None else registry
    return {
        name: msgspec.defstruct(
            name.capitalize() + suffix,
            fields_of(spec),
            bases=(base,),
            tag_field=TAG_FIELD,
            tag=name,
            kw_only=True,
            module=module,
        )
        for name, spec in specs.items()
    }


def with_default_task(data: Any) -> Any:
    """``data`` with ``task`` set to :data:`DEFAULT_TASK` when it is a mapping that names none
    (a tagged union needs its tag; the public body and the protocol default it)."""
    if isinstance(data, Mapping) and TAG_FIELD not in data:
        return {TAG_FIELD: DEFAULT_TASK, **data}
    return data
