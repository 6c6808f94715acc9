"""Request and response bodies of the media routes (msgspec Structs at the edge).

Field names follow the contract (``housify_ai.contract``) where they overlap,
so a client can move values between a job and its request unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from uuid import UUID

import msgspec
from litestar.exceptions import HTTPException
from msgspec import Meta

from housify_ai.contract import EVENTS, JobEvent, SucceededEvent
from housify_ai.tasks import (
    INPUTS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    REGISTRY,
    TAG_FIELD,
    FieldSpec,
    TaggedByTask,
    TaskSpec,
    get_task,
    tagged_structs,
    with_default_task,
)

Stars = Annotated[int, Meta(ge=1, le=5, description="1 to 5 stars")]
Title = Annotated[str, Meta(max_length=200)]


class RatingSummary(msgspec.Struct, kw_only=True):
    """``average`` stars (``null`` while unrated) over ``count`` ratings; ``mine`` is the caller's own."""

    average: float | None
    count: int
    mine: int | None = None


class ImageOut(msgspec.Struct, kw_only=True):
    """A picture; ``size_bytes`` counts picture + thumbnail.

    ``url``/``thumb_url``: short-lived signed URLs (paths on this host) that the edge
    serves without the API; use them as they are (no ``Authorization``). They work until
    ``urls_expire_at`` (2 to 4 minutes ahead; the same URLs for the same picture within
    a 2-minute window); fetch the listing again for new ones (docs/storage.md).

    ``recipe``: how it was made (:class:`Recipe`), beside ``job_id``, for the owner only.
    ``job_id``: the job that drew a generated picture, in ``GET /images/{id}`` for its owner
    (and admins) only; ``None`` in lists, for uploads and for other callers.
    """

    id: UUID
    owner_id: UUID
    kind: Literal["upload", "generated", "mask", "control"]
    title: str
    public: bool
    content_type: str
    width: int
    height: int
    size_bytes: int
    created_at: dt.datetime
    rating: RatingSummary
    url: str
    thumb_url: str
    urls_expire_at: dt.datetime
    job_id: UUID | None = None
    recipe: Recipe | None = None


class Recipe(msgspec.Struct, kw_only=True):
    """How a generated picture was made, for its owner: send these fields to ``POST /jobs`` to draw it
    again ("use these settings"), or change the prompt and keep ``seed`` for a variation.

    ``prompt``/``negative_prompt`` are the user's own words (the ``room_type`` and ``style`` presets'
    fragments are added again by ``POST /jobs``; jobs from before this field give the composed prompt);
    ``params`` holds the task's parameters as the job ran them (``width``, ``height``, ``steps``,
    ``guidance_scale``, ``strength``, ...); ``model`` is the model the AI worker reported; the image ids
    name the job's inputs (``source_image_id``: the picture it started from).
    """

    job_id: UUID
    task: str
    prompt: str
    negative_prompt: str
    room_type: str | None = None
    style: str | None = None
    seed: int | None = None
    model: str | None = None
    params: dict[str, Any]
    source_image_id: UUID | None = None
    mask_image_id: UUID | None = None
    control_image_id: UUID | None = None


class FeaturedImage(ImageOut, kw_only=True):
    """A front-page picture with its Bayesian ``score`` (see ``housify_api.media.ranking``)."""

    score: float


class ImagePatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``PATCH /images/{id}``: fields left out stay as they are."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    public: bool | msgspec.UnsetType = msgspec.UNSET


class RatingIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``PUT /images/{id}/rating``."""

    stars: Stars


#: ``POST /jobs`` image fields: task input (``housify_ai.tasks.INPUTS``) -> body field.
IMAGE_FIELDS: dict[str, str] = {need: f"{need}_image_id" for need in INPUTS}
#: Every task parameter name (a key some task's body takes; the others' bodies refuse it with 422).
PARAM_NAMES: frozenset[str] = frozenset(name for spec in REGISTRY.values() for name in spec.param_names())


class JobBody(msgspec.Struct, TaggedByTask, kw_only=True, forbid_unknown_fields=True):
    """What every ``POST /jobs`` body has; each task's body (:data:`JOB_BODIES`) adds its inputs and
    parameters. ``room_type`` and ``style`` add a preset's prompt fragments; ``count`` (1-4) asks for
    variations, each counted against the hourly limit."""

    seed: Annotated[int, Meta(ge=0, le=MAX_SEED)] | None = None
    room_type: (
        Annotated[str, Meta(max_length=80, description="a room-type preset's name or label (GET /presets)")] | None
    ) = None
    style: Annotated[str, Meta(max_length=80, description="a style preset's name or label (GET /presets)")] | None = (
        None
    )
    count: Annotated[
        int, Meta(ge=1, le=4, description="pictures: seeds seed ... seed+count-1, each its own job and image")
    ] = 1
    title: Title = ""
    public: bool = False

    def text(self) -> tuple[str, str]:
        """``(prompt, negative_prompt)``; empty for a task that takes no prompt."""
        return getattr(self, "prompt", ""), getattr(self, "negative_prompt", "")

    def image_ids(self) -> dict[str, UUID]:
        """Task input (``source``, ...) -> the image id given for it."""
        ids = {need: getattr(self, field, None) for need, field in IMAGE_FIELDS.items()}
        return {need: image_id for need, image_id in ids.items() if image_id is not None}

    def params(self) -> dict[str, Any]:
        """The task parameters that were sent (the others take the task's defaults)."""
        values = {name: getattr(self, name) for name in self.spec.param_names()}
        return {name: value for name, value in values.items() if value is not msgspec.UNSET}


def body_fields(spec: TaskSpec) -> list[FieldSpec]:
    """A task's own body fields: its prompt, its image ids, its parameters (left out: the task's default)."""
    fields: list[FieldSpec] = []
    if spec.prompt != "none":
        what = "what to draw" + ("" if spec.prompt == "required" else " (optional)")
        fields += [
            ("prompt", Annotated[str, Meta(max_length=MAX_PROMPT_CHARS, description=what)], ""),
            ("negative_prompt", Annotated[str, Meta(max_length=MAX_PROMPT_CHARS)], ""),
        ]
    for need, field in IMAGE_FIELDS.items():
        wanted = getattr(spec, need)
        if wanted != "none":
            description = f"one of the caller's images ({wanted})" + (
                "; white = repaint, the source's width and height" if need == "mask" else ""
            )
            fields.append((field, Annotated[UUID, Meta(description=description)] | None, None))
    for info in msgspec.structs.fields(spec.params):
        fields.append((info.name, info.type | msgspec.UnsetType, msgspec.UNSET))
    return fields


#: Task name -> its ``POST /jobs`` body (``Text2imgJobIn``, ...), generated from the registry.
JOB_BODIES: dict[str, type[JobBody]] = tagged_structs("JobIn", JobBody, body_fields, module=__name__)  # type: ignore[assignment]
for _name, _body in JOB_BODIES.items():
    _body.__doc__ = f"``POST /jobs`` with ``task`` {_name}: {get_task(_name).summary}."

#: Every field some task's body has.
ALL_FIELDS: frozenset[str] = frozenset(name for body in JOB_BODIES.values() for name in body.__struct_fields__)

if TYPE_CHECKING:  # generated from the registry: the type checker knows their base
    AnyJobBody = JobBody
else:
    AnyJobBody = Union[tuple(JOB_BODIES.values())]  # noqa: UP007 - a Union built from a tuple


class JobIn:
    """Body of ``POST /jobs``: a flat JSON object whose ``task`` (default ``text2img``) picks the body
    Struct of :data:`JOB_BODIES` (a msgspec tagged union; OpenAPI: ``oneOf`` with a discriminator on
    ``task``, :class:`housify_api.system.struct_schema.JobInSchemaPlugin`). ``body`` is the decoded one.

    Decoded by Litestar through :meth:`_decoder` (its hook for custom types): a field that is
    another task's parameter is a 422 naming it and the task (``strength: task text2img takes no
    strength``), like an image or prompt the task does not take; a type or range error is Litestar's
    400 naming the field.
    """

    __slots__ = ("body",)

    #: What a 400's items are described from (``housify_api.error_items``).
    struct_types: tuple[type, ...] = tuple(JOB_BODIES.values())

    def __init__(self, body: JobBody) -> None:
        self.body = body

    @classmethod
    def decode(cls, data: Any) -> JobIn:
        """A body from builtins (the decoded JSON).

        Raises:
            HTTPException: 422 for a field, image or prompt the task does not take.
            msgspec.ValidationError: a type, range or unknown-field error naming the field (400).
        """
        data = with_default_task(data)
        if isinstance(data, Mapping):
            try:
                spec = get_task(data[TAG_FIELD]) if isinstance(data[TAG_FIELD], str) else None
            except ValueError:
                spec = None  # msgspec names the unknown tag (400)
            if spec is not None:
                # null means "not given": a client may send another task's field as null (as the flat body allowed)
                data = {
                    k: v for k, v in data.items() if not (v is None and k in ALL_FIELDS and k not in spec_fields(spec))
                }
                _refuse_what_the_task_does_not_take(spec, data)
        return cls(msgspec.convert(data, AnyJobBody))

    @classmethod
    def _decoder(cls, _type: Any, value: Any) -> JobIn:
        return cls.decode(value)


def _valid_somewhere(name: str, value: Any) -> bool:
    """Whether ``value`` is valid for ``name`` in some task's body (else the unknown field is a plain 400)."""
    for body in JOB_BODIES.values():
        for info in msgspec.structs.fields(body):
            if info.name == name:
                try:
                    msgspec.convert(value, info.type)
                except (msgspec.ValidationError, ValueError):
                    continue
                return True
    return False


def _refuse_what_the_task_does_not_take(spec: TaskSpec, data: Mapping[str, Any]) -> None:
    """422 naming the first field that another task takes but ``spec`` does not (a parameter, an image,
    the prompt), when its value would be valid there; type errors stay msgspec's 400."""
    foreign = {
        name
        for name, value in data.items()
        if name != TAG_FIELD and name not in spec_fields(spec) and _valid_somewhere(name, value)
    }
    takes = spec.param_names()
    for name in data:
        if name in foreign and name in PARAM_NAMES:
            raise _unprocessable(
                name, f"task {spec.name} takes no {name} (its parameters: {', '.join(takes) or 'none'})"
            )
    try:
        spec.check_inputs(
            prompt=None,
            negative_prompt="",
            given={
                need: data.get(field) is not None and (field in foreign or field in spec_fields(spec))
                for need, field in IMAGE_FIELDS.items()
            },
            names=IMAGE_FIELDS,
        )
        if spec.prompt == "none" and (data.get("prompt") or data.get("negative_prompt")):
            raise ValueError(f"prompt: task {spec.name} takes no prompt")
    except ValueError as exc:
        field, _, rule = str(exc).partition(": ")
        raise _unprocessable(field, rule) from exc


def spec_fields(spec: TaskSpec) -> tuple[str, ...]:
    """The fields of ``spec``'s body."""
    return JOB_BODIES[spec.name].__struct_fields__


def _unprocessable(field: str, rule: str) -> HTTPException:
    return HTTPException(status_code=422, detail=f"{field}: {rule}", extra=[{"key": field, "message": rule}])


class SucceededEventOut(SucceededEvent, kw_only=True, tag="succeeded"):
    """The job-events WebSocket's ``succeeded``: the contract's, with the new picture's ``image_id``
    (``GET /images/{id}``), sent once the result is recorded."""

    image_id: UUID | None = None


#: A message of the job-events WebSocket (``/jobs/{id}/events``, ``/jobs/events``): the contract's event
#: union (:data:`housify_ai.contract.AnyJobEvent`, tagged ``type``) with :class:`SucceededEventOut` for
#: ``succeeded``. Its JSON Schema is ``GET /schema/job-events.json`` (the WebSocket is not in the OpenAPI
#: document).
if TYPE_CHECKING:
    JobEventOut = JobEvent
else:
    JobEventOut = Union[tuple({**EVENTS, "succeeded": SucceededEventOut}.values())]  # noqa: UP007 - from a tuple


def job_events_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12, msgspec's) of :data:`JobEventOut`: ``oneOf`` the event types' objects
    with a ``discriminator`` on ``type`` (OpenAPI 3.1's keyword, which JSON Schema tools ignore; ``type`` is
    also each member's one-value ``enum``, so the members exclude each other)."""
    schema: dict[str, Any] = msgspec.json.schema(JobEventOut)
    members = schema.pop("anyOf")  # msgspec's word for a union; a tagged one's members never overlap
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Housify job event",
        "description": "One message of the job-events WebSocket; `type` picks the member.",
        "oneOf": members,
        **schema,
    }
    return schema


class JobProgress(msgspec.Struct, kw_only=True):
    step: int
    total: int


class JobOut(msgspec.Struct, kw_only=True):
    """A job. ``status``: queued, running, succeeded, failed, cancelled.

    ``detail`` explains a job that waits (e.g. no AI worker is running: the job
    stays queued and starts when one is). ``image_id`` is set on success.
    """

    id: UUID
    task: str
    status: str
    level: str
    watermark: bool
    params: dict[str, object]
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    image_id: UUID | None = None
    error: str | None = None
    progress: JobProgress | None = None
    detail: str | None = None
    batch: list[UUID] | None = None
    """Every job of the same ``POST /jobs`` (``count`` > 1), this one included."""
    events_url: str = ""
