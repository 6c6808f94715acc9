"""The protocol between housify-api and housify-ai workers (docs/ai-server.md, "The job protocol").

Plain msgspec Structs, constants and Redis key names; this module imports no
torch and no redis, so the API imports it without the AI stack. Everything
needed to speak the protocol is here:

* :class:`JobRequest` — one job of a registered task (:mod:`housify_ai.tasks`), appended
  as JSON to the job stream of the user's subscription level
  (:meth:`StreamKeys.jobs`), read by the workers' consumer group
  :data:`WORKER_GROUP`.
* :class:`JobEvent` — progress of one job, a tagged union on ``type`` (one Struct
  per event type, :data:`AnyJobEvent`), appended to its own bounded, expiring
  event stream (:meth:`StreamKeys.events`) so a WebSocket client that connects
  late replays what it missed.
* :class:`JobResult` — the outcome, appended to :meth:`StreamKeys.results`
  exactly once per job id (the worker publishes it in a transaction guarded by
  :meth:`StreamKeys.result`); the API reads it with consumer group
  :data:`RESULTS_GROUP`.
* Cancellation: set :meth:`StreamKeys.cancel` (``request_cancel``); the worker
  checks it at every denoising step.
* Fair share: :meth:`StreamKeys.levels` is a hash ``level name -> its`` (the
  levels' share of inference capacity, docs/ai-server.md); workers serve the level
  streams in proportion to it, so Pro-Tier (5.0) gets two jobs for every
  Free-Tier (2.5) job while both have a backlog.

Stream entries carry one field: ``job``, ``event`` or ``result``, holding the
Struct's JSON (:func:`encode`). Helpers taking a ``client`` take a redis-py
asyncio client (:data:`housify_common.redis.RedisClient`; ``fakeredis``'s is one).

Validation: msgspec checks ``Meta`` constraints when *decoding or converting*,
not in ``__init__``; build requests from untrusted data with
:meth:`JobRequest.parse` (or decode JSON with :func:`decode_request`).
A ``msgspec.ValidationError`` names the field, e.g.
``Expected `int` that is a multiple of 8 - at `$.width```.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, cast, get_args

import msgspec
from msgspec import Meta

from housify_ai.tasks import (  # noqa: F401 - the limits are part of the protocol; re-exported
    DEFAULT_TASK,
    INPUTS,
    MAX_GUIDANCE,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_SIDE,
    MAX_STEPS,
    MIN_SIDE,
    FieldSpec,
    TaggedByTask,
    TaskSpec,
    get_task,
    tagged_structs,
    task_names,
    with_default_task,
)

if TYPE_CHECKING:  # for annotations only: at run time the contract imports no redis
    from redis.typing import XReadGroupResponse, XReadResponse

    from housify_common.redis import RedisClient

PROTOCOL_VERSION = 2
"""Value of ``v`` in every Struct; bumped only for incompatible changes (2: task parameters in ``params``)."""

TASKS: tuple[str, ...] = task_names()
"""The registered job kinds (:data:`housify_ai.tasks.REGISTRY`)."""

EventType = Literal["queued", "started", "progress", "preview", "succeeded", "failed", "cancelled"]
TERMINAL_EVENTS: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

Status = Literal["succeeded", "failed", "cancelled"]

WORKER_GROUP = "housify-ai-workers"
"""Consumer group of the AI workers on every level's job stream."""
RESULTS_GROUP = "housify-api"
"""Consumer group of the API instances on the results stream."""

DEFAULT_LEVELS: dict[str, float] = {"Free-Tier": 2.5, "Pro-Tier": 5.0}
"""Level name -> ``its`` (the default subscription levels); used when the levels hash is empty."""

DEFAULT_LEVEL = "Free-Tier"

log = logging.getLogger(__name__)

_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_LEVEL_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_. -]{0,63}$"
# Same rule as housify_common.storage.KEY_PATTERN (kept here so the contract imports nothing of ours).
_STORAGE_KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_.-]*)*$"

JobId = Annotated[str, Meta(pattern=_ID_PATTERN, description="letters, digits, '-', '_'; at most 64 (a UUID fits)")]
Side = Annotated[int, Meta(ge=MIN_SIDE, le=MAX_SIDE, multiple_of=8, description="pixels")]
StorageKey = Annotated[str, Meta(pattern=_STORAGE_KEY_PATTERN, max_length=255)]


class JobRequest(msgspec.Struct, TaggedByTask, kw_only=True, forbid_unknown_fields=True):
    """One job of a registered task (:mod:`housify_ai.tasks`): the fields every task shares.

    Each task has its own subclass (:data:`REQUESTS`, generated from the registry) tagged with
    ``task`` and with ``params`` typed as that task's parameter Struct, so :data:`AnyJobRequest`
    is a msgspec tagged union: decoding picks the subclass by ``task`` (``text2img`` when
    absent) and fills in the parameters' defaults, so the worker sees every value.
    ``prompt`` and the images are the task's declared inputs: ``source_key`` and ``mask_key``
    (white = repaint) and ``control_key`` are storage keys of the user's stored pictures.
    ``seed`` None lets the worker pick one; the seed used comes back in :class:`JobResult`.
    ``watermark`` is set by the API for levels whose outputs carry a visible watermark
    (Free-Tier). ``level`` picks the job stream (and so the share of capacity).

    The JSON is the same as protocol version 2 before the union (``task`` beside ``params``),
    so :data:`PROTOCOL_VERSION` stays 2 and workers of either build read each other's jobs.

    Raises (from :meth:`parse` / :func:`decode_request`):
        msgspec.ValidationError: naming the field, for an unknown task, a value
            out of range, or an input the task requires but lacks (or takes not).
    """

    v: int = PROTOCOL_VERSION
    job_id: JobId
    user_id: Annotated[str, Meta(min_length=1, max_length=64)]
    prompt: Annotated[str, Meta(max_length=MAX_PROMPT_CHARS)] = ""
    negative_prompt: Annotated[str, Meta(max_length=MAX_PROMPT_CHARS)] = ""
    params: Any = None
    """The task's parameter Struct (the subclass declares its type)."""
    seed: Annotated[int, Meta(ge=0, le=MAX_SEED)] | None = None
    source_key: StorageKey | None = None
    mask_key: StorageKey | None = None
    control_key: StorageKey | None = None
    watermark: bool = False
    level: Annotated[str, Meta(pattern=_LEVEL_PATTERN)] = DEFAULT_LEVEL
    enqueued_at: float = 0.0
    """Unix seconds; set by :func:`enqueue_job` (dispatch latency is measured from it)."""

    def __post_init__(self) -> None:
        spec = self.spec
        spec.check_inputs(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            given={need: getattr(self, f"{need}_key") is not None for need in INPUTS},
            names={need: f"{need}_key" for need in INPUTS},
        )
        if spec.check is not None:
            spec.check(self.params, None)

    def options(self) -> Any:
        """The task's parameter Struct (e.g. :class:`housify_ai.tasks.TextToImageParams`)."""
        return self.params

    def total_steps(self) -> int:
        """How many ``progress`` steps the job reports."""
        return self.spec.steps_of(self.params)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> JobRequest:
        """Validate ``data`` (e.g. a request body merged with job id, user id and level) into a request
        of its task (``task`` absent: ``text2img``)."""
        return msgspec.convert(with_default_task(data), AnyJobRequest)

    @classmethod
    def from_flat(cls, data: Mapping[str, Any]) -> JobRequest:
        """:meth:`parse` of a flat mapping: the keys that are parameters of its task (``task``,
        default text2img) move into ``params`` — ``{"prompt": "a porch", "width": 64}`` ->
        ``params={"width": 64}``. An unknown task is left to :meth:`parse` to refuse."""
        fields = dict(data)
        try:
            names = get_task(fields.get("task", DEFAULT_TASK)).param_names()
        except ValueError:
            names = ()
        params = dict(fields.pop("params", None) or {})
        params.update({name: fields.pop(name) for name in names if name in fields})
        return cls.parse({**fields, "params": params})


def request_fields(spec: TaskSpec) -> list[FieldSpec]:
    return [("params", spec.params, msgspec.field(default_factory=spec.params))]


REQUESTS: dict[str, type[JobRequest]] = tagged_structs("Request", JobRequest, request_fields, module=__name__)  # type: ignore[assignment]
"""Task name -> its :class:`JobRequest` subclass (``Text2imgRequest``, ...)."""

if TYPE_CHECKING:  # generated from the registry: the type checker knows their base
    AnyJobRequest = JobRequest
else:
    AnyJobRequest = Union[tuple(REQUESTS.values())]  # noqa: UP007 - a Union built from a tuple
"""The tagged union of every task's request (``task`` picks the member)."""


class JobEvent(msgspec.Struct, kw_only=True, tag_field="type"):
    """One step in a job's life, in order: ``queued``, ``started``, ``progress`` (``step`` of ``total``)
    interleaved with ``preview``, then one of ``succeeded`` / ``failed`` / ``cancelled``.

    The fields every event has; each type is its own subclass (:data:`EVENTS`) carrying only its own
    fields, and :data:`AnyJobEvent` is their msgspec tagged union on ``type``. ``at`` is Unix seconds.

    Wire format (JSON): an object with ``type`` and the member's fields, the names and values of
    protocol 2's one flat Struct; a member writes only its own fields (a ``progress`` event has no
    ``preview: null``). Unknown fields are ignored, so this union reads events written by the flat
    Struct (every field present), and the flat Struct reads these (its defaults fill the rest): no
    protocol bump (:data:`PROTOCOL_VERSION` stays 2), and workers and API instances of either build
    share the event streams during a rolling deploy. An unknown ``type`` does not decode
    (``msgspec.ValidationError`` at ``$.type``); readers skip such an entry with a log line
    (:func:`read_events`).
    """

    v: int = PROTOCOL_VERSION
    job_id: str
    at: float = 0.0

    @property
    def type(self) -> EventType:
        """The event's type: this Struct's tag."""
        return cast("EventType", type(self).__struct_config__.tag)

    @property
    def terminal(self) -> bool:
        """True for the job's last event (``succeeded``, ``failed``, ``cancelled``)."""
        return isinstance(self, EndEvent)


class QueuedEvent(JobEvent, kw_only=True, tag="queued"):
    """The job is in its level's job stream; ``total``: the steps it will report."""

    total: int = 0


class StartedEvent(JobEvent, kw_only=True, tag="started"):
    """A worker began the job (``attempt``: its delivery count, 1 on the first), with ``seed``."""

    total: int = 0
    seed: int | None = None
    attempt: int = 0


class StepEvent(JobEvent, kw_only=True):
    """What ``progress`` and ``preview`` share: ``step`` of ``total`` on ``attempt``."""

    step: int
    total: int
    attempt: int = 0


class ProgressEvent(StepEvent, kw_only=True, tag="progress"):
    """``step`` of ``total`` denoising steps done."""


class PreviewEvent(StepEvent, kw_only=True, tag="preview"):
    """A look at the picture at ``step``: ``preview`` is a small WebP (at most 128 px) as base64 text."""

    preview: str


class EndEvent(JobEvent, kw_only=True):
    """What the terminal events share: the ``seed`` used (when the job started) and the ``attempt``."""

    seed: int | None = None
    attempt: int = 0


class SucceededEvent(EndEvent, kw_only=True, tag="succeeded"):
    """The picture is stored: ``image_key`` (PNG) in the image storage."""

    image_key: str | None = None


class FailedEvent(EndEvent, kw_only=True, tag="failed"):
    """``message`` says why (``deadline: ...`` and ``expired: ...`` for the time bounds)."""

    message: str = ""


class CancelledEvent(EndEvent, kw_only=True, tag="cancelled"):
    """The job stopped on its owner's request; ``message`` says when (e.g. before it started)."""

    message: str = ""


AnyJobEvent = Union[  # noqa: UP007 - spelled as the union it is
    QueuedEvent, StartedEvent, ProgressEvent, PreviewEvent, SucceededEvent, FailedEvent, CancelledEvent
]
"""The tagged union of every event type (``type`` picks the member)."""

EVENTS: dict[str, type[JobEvent]] = {str(cls.__struct_config__.tag): cls for cls in get_args(AnyJobEvent)}
"""Event type -> its Struct, in the order of a job's life."""


def end_event(
    job_id: str,
    status: Status,
    *,
    message: str = "",
    at: float = 0.0,
    seed: int | None = None,
    image_key: str | None = None,
    attempt: int = 0,
) -> EndEvent:
    """The terminal event of a job that ended with ``status`` (``message``: why it failed or was cancelled)."""
    common: dict[str, Any] = {"job_id": job_id, "at": at, "seed": seed, "attempt": attempt}
    if status == "succeeded":
        return SucceededEvent(image_key=image_key, **common)
    if status == "failed":
        return FailedEvent(message=message, **common)
    return CancelledEvent(message=message, **common)


class StoredImage(msgspec.Struct, kw_only=True):
    """A picture a worker stored besides the result: ``key`` (PNG), ``thumb_key`` (WebP), size in pixels."""

    key: str
    thumb_key: str
    width: int
    height: int


class JobResult(msgspec.Struct, kw_only=True):
    """The outcome of one job, published once per ``job_id``.

    ``image_key`` (PNG) and ``thumb_key`` (WebP) are storage keys, set when
    ``status`` is ``succeeded``. ``seconds`` is the inference time;
    ``started_at``/``finished_at`` are Unix seconds. ``device`` is e.g.
    ``cpu`` or ``cuda:0``; ``error`` says why a job failed.
    """

    v: int = PROTOCOL_VERSION
    job_id: str
    status: Status
    image_key: str | None = None
    thumb_key: str | None = None
    control: StoredImage | None = None
    """``redesign``: the control image (several maps side by side) the picture kept to."""
    width: int = 0
    height: int = 0
    seed: int | None = None
    error: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    seconds: float = 0.0
    device: str = ""
    model: str = ""
    attempts: int = 1
    watermarked: bool = False
    expired: Literal["run", "queue"] | None = None
    """Set on a ``failed`` job that a time bound ended: ``run`` — it ran past its task's deadline;
    ``queue`` — no worker started it in time. Such a job does not count against the user's hourly limit."""


class PromptAssistRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An idea in the user's words, with optional hints; body of ``POST /prompts/assist``."""

    idea: Annotated[str, Meta(min_length=1, max_length=1000)]
    room_type: Annotated[str, Meta(max_length=100, description="e.g. 'living room'; the prompt names it")] | None = None
    style: Annotated[str, Meta(max_length=100, description="e.g. 'scandinavian'")] | None = None
    room: Annotated[str, Meta(max_length=100, description="deprecated name of room_type")] | None = None

    def __post_init__(self) -> None:
        if not self.idea.strip():
            raise ValueError("idea: must not be blank")
        if self.room is not None:  # the earlier field name, still accepted from older clients
            if self.room_type is None:
                self.room_type = self.room
            self.room = None


class PromptAssistResponse(msgspec.Struct, kw_only=True):
    """A prompt for the image model, what to avoid, and a short note for the user.

    ``prompt`` starts with the user's own words (with the room type and style); ``added`` lists the
    details the assistant appended after them, in order, so a client can show and undo them.
    """

    prompt: str
    negative_prompt: str
    notes: str
    added: list[str] = []


class StreamKeys:
    """Redis key names of the protocol, under a prefix (``HOUSIFY_REDIS_PREFIX``).

    ``StreamKeys("housify:").jobs("Pro-Tier")`` -> ``housify:ai:jobs:Pro-Tier``.
    """

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "housify:") -> None:
        self.prefix = prefix if prefix.endswith(":") else prefix + ":"

    def jobs(self, level: str) -> str:
        """Job stream of one subscription level (consumer group :data:`WORKER_GROUP`)."""
        return f"{self.prefix}ai:jobs:{level}"

    def events(self, job_id: str) -> str:
        """Event stream of one job (bounded length, expires after the last event)."""
        return f"{self.prefix}ai:events:{job_id}"

    def results(self) -> str:
        """Results stream (consumer group :data:`RESULTS_GROUP`)."""
        return f"{self.prefix}ai:results"

    def result(self, job_id: str) -> str:
        """The published result of a job: guards against publishing it twice."""
        return f"{self.prefix}ai:result:{job_id}"

    def cancel(self, job_id: str) -> str:
        """Cancellation flag of a job (any value; expires)."""
        return f"{self.prefix}ai:cancel:{job_id}"

    def levels(self) -> str:
        """Hash ``level name -> its`` read by workers for fair share."""
        return f"{self.prefix}ai:levels"

    def workers(self) -> str:
        """Hash ``consumer name -> JSON status`` (model, device, dtype, memory, seen_at)."""
        return f"{self.prefix}ai:workers"


# Field names of stream entries.
JOB_FIELD = "job"
EVENT_FIELD = "event"
RESULT_FIELD = "result"

EVENTS_MAXLEN = 500
"""Approximate cap of a job's event stream (100 steps + previews + the rest fit)."""
EVENTS_TTL_SECONDS = 24 * 3600
CANCEL_TTL_SECONDS = 24 * 3600

_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(AnyJobEvent)
_result_decoder = msgspec.json.Decoder(JobResult)


def encode(value: msgspec.Struct) -> bytes:
    """JSON bytes of any protocol Struct."""
    return _encoder.encode(value)


def decode_request(data: bytes | str) -> JobRequest:
    """A validated request of its task from JSON (``task`` absent: ``text2img``); ``msgspec.ValidationError``
    names the field."""
    return msgspec.convert(with_default_task(msgspec.json.decode(data)), AnyJobRequest)


def decode_event(data: bytes | str) -> JobEvent:
    """The event of its ``type``; ``msgspec.ValidationError`` for an unknown type (at ``$.type``) or a bad field."""
    return _event_decoder.decode(data)


def decode_result(data: bytes | str) -> JobResult:
    return _result_decoder.decode(data)


def _field(fields: Mapping[Any, Any], name: str) -> Any:
    return fields.get(name.encode()) if name.encode() in fields else fields[name]


def event_from_entry(fields: Mapping[Any, Any]) -> JobEvent:
    """The :class:`JobEvent` of an event-stream entry (bytes or str keys); raises as :func:`decode_event`."""
    return decode_event(_field(fields, EVENT_FIELD))


def known_event(entry_id: str, fields: Mapping[Any, Any]) -> JobEvent | None:
    """:func:`event_from_entry`, or ``None`` with a warning naming the entry for an event this build cannot
    read (a type a newer build added, a bad field): readers skip it and go on with the job's next event."""
    try:
        return event_from_entry(fields)
    except (msgspec.ValidationError, msgspec.DecodeError, KeyError) as exc:
        log.warning("job events: skipped entry %s that this build cannot read: %s", entry_id, exc)
        return None


def result_from_entry(fields: Mapping[Any, Any]) -> JobResult:
    """The :class:`JobResult` of a results-stream entry (bytes or str keys)."""
    return decode_result(_field(fields, RESULT_FIELD))


def request_from_entry(fields: Mapping[Any, Any]) -> JobRequest:
    """The :class:`JobRequest` of a job-stream entry (bytes or str keys)."""
    return decode_request(_field(fields, JOB_FIELD))


def stream_reply(reply: XReadResponse | XReadGroupResponse | None) -> list[list[Any]]:
    """An ``XREAD`` / ``XREADGROUP`` reply as RESP2 gives it: ``[[stream, [(entry id, fields), ...]], ...]``,
    ``[]`` for none (a block that ran out). Housify's clients speak RESP2, redis-py's default; redis-py
    types the reply for RESP3 too (a dict by stream), which no client here asks for.

    Raises:
        TypeError: a RESP3 reply (a client made with ``protocol=3``).
    """
    if isinstance(reply, dict):
        raise TypeError("a RESP3 stream reply: Housify's Redis clients speak RESP2 (redis-py's default protocol)")
    return reply or []


async def ensure_groups(client: RedisClient, keys: StreamKeys, levels: Mapping[str, float] | None = None) -> None:
    """Create the worker group on each level's job stream and the API group on the results stream.

    Idempotent (an existing group is kept). Groups start at ``0`` so jobs
    enqueued before the first worker started are served.
    """
    for level in levels or DEFAULT_LEVELS:
        await _create_group(client, keys.jobs(level), WORKER_GROUP)
    await _create_group(client, keys.results(), RESULTS_GROUP)


async def _create_group(client: RedisClient, stream: str, group: str) -> None:
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except Exception as exc:  # redis.ResponseError; not imported here
        if "BUSYGROUP" not in str(exc):
            raise


async def publish_levels(client: RedisClient, keys: StreamKeys, levels: Mapping[str, float]) -> None:
    """Write the level -> ``its`` registry (the API calls this at start-up and when an admin edits a level)."""
    if levels:
        await client.hset(keys.levels(), mapping={name: repr(float(its)) for name, its in levels.items()})
        await ensure_groups(client, keys, levels)


async def read_levels(client: RedisClient, keys: StreamKeys) -> dict[str, float]:
    """The level registry, or :data:`DEFAULT_LEVELS` while it is empty."""
    raw = await client.hgetall(keys.levels())
    levels = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in raw.items()}
    return levels or dict(DEFAULT_LEVELS)


async def enqueue_job(client: RedisClient, keys: StreamKeys, request: JobRequest) -> str:
    """Append ``request`` to its level's job stream and a ``queued`` event to its event stream.

    Returns the job stream entry id. The request is re-validated first, so a
    Struct built with ``JobRequest(...)`` cannot bypass the constraints.
    """
    now = time.time()
    request = decode_request(encode(msgspec.structs.replace(request, enqueued_at=now)))
    event = QueuedEvent(job_id=request.job_id, at=now, total=request.total_steps())
    async with client.pipeline(transaction=True) as pipe:
        pipe.xadd(keys.jobs(request.level), {JOB_FIELD: encode(request)})
        pipe.xadd(keys.events(request.job_id), {EVENT_FIELD: encode(event)}, maxlen=EVENTS_MAXLEN, approximate=True)
        pipe.expire(keys.events(request.job_id), EVENTS_TTL_SECONDS)
        entry_id, *_ = await pipe.execute()
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


async def request_cancel(client: RedisClient, keys: StreamKeys, job_id: str) -> None:
    """Flag ``job_id`` for cancellation: a queued job is dropped when claimed, a running one stops at its next step."""
    await client.set(keys.cancel(job_id), b"1", ex=CANCEL_TTL_SECONDS)


async def read_events(
    client: RedisClient, keys: StreamKeys, job_id: str, after: str = "0-0", block_ms: int | None = None
) -> list[tuple[str, JobEvent]]:
    """Events of ``job_id`` after entry id ``after`` (``"0-0"``: from the start), as ``(entry id, event)``;
    one this build cannot read is left out (:func:`known_event`).

    With ``block_ms`` waits up to that long for new ones (XREAD BLOCK).
    """
    reply = stream_reply(await client.xread({keys.events(job_id): after}, block=block_ms))
    out: list[tuple[str, JobEvent]] = []
    for _stream, entries in reply or []:
        for raw_id, fields in entries:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            event = known_event(entry_id, fields)
            if event is not None:
                out.append((entry_id, event))
    return out
