"""The worker protocol: JSON lines between the Blender add-on and the model worker (stdlib only).

Every message is one JSON object on one line with a ``type`` and an ``id``. Requests name a job by
their ``id``; every reply carries the id of the request it answers (``ready`` uses :data:`WORKER_ID`).
Each ``generate``/``react`` request ends in exactly one ``result`` or ``error``; ``cancel`` names the
job to stop, which then ends with ``error`` code ``cancelled``. Arrays never travel in messages: clips
are ``.npz`` files (see :mod:`clip`) whose paths the messages carry.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

WORKER_ID = "worker"
MIN_SECONDS = 1.0
MAX_SECONDS = 10.0
#: Clip lengths are whole token steps: the VQ-VAE downsamples time by 4.
FRAMES_PER_TOKEN = 4
MAX_PROMPT_CHARS = 400
MAX_VARIATIONS = 8
#: Sampler defaults, the one place every caller (panel, CLIs, worker, evaluation, bench) takes them from,
#: chosen on the shipped model with the full evaluation (31 test windows x 5 replications; EVAL.md):
#: 10 unmasking steps (MoMask's default) scored better than 20 in every step sweep we ran and costs half
#: the CPU time; guidance 3 beat 2 (FID 185 vs 258, R@3 0.35 vs 0.30). A reaction fills only one
#: person's map; InterMask gives it half its generation steps, and 10 is what EVAL.md measured.
DEFAULT_STEPS = 10
DEFAULT_REACT_STEPS = 10
DEFAULT_GUIDANCE = 3.0


class ProtocolError(ValueError):
    """A line that is not a valid message; ``code`` is the error code the worker replies with."""

    def __init__(self, message: str, code: str = "bad_request", job_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.job_id = job_id


class ErrorCode:
    BAD_REQUEST = "bad_request"
    BAD_PROMPT = "bad_prompt"
    BAD_SECONDS = "bad_seconds"
    BAD_PARTNER = "bad_partner"
    CHECKPOINT = "checkpoint"
    BUSY = "busy"
    CANCELLED = "cancelled"
    UNKNOWN_JOB = "unknown_job"
    INTERNAL = "internal"


@dataclass
class Message:
    """Base of all messages: subclasses set ``TYPE`` and add their fields."""

    TYPE: ClassVar[str] = ""
    id: str

    def to_json(self) -> str:
        return json.dumps({"type": self.TYPE, **asdict(self)}, separators=(",", ":"))


# --- requests (add-on → worker) -------------------------------------------------------------------


@dataclass
class Generate(Message):
    """Generate ``variations`` interactions for ``prompt`` (or per-person ``prompts`` [A, B])."""

    TYPE: ClassVar[str] = "generate"
    prompt: str = ""
    prompts: list[str] = field(default_factory=list)
    seconds: float = 6.0
    seed: int = 0
    variations: int = 1
    guidance: float = DEFAULT_GUIDANCE
    steps: int = DEFAULT_STEPS
    out_dir: str = ""


@dataclass
class React(Message):
    """Generate the partner of the one-person clip at ``partner`` (person A, kept fixed)."""

    TYPE: ClassVar[str] = "react"
    prompt: str = ""
    partner: str = ""
    seed: int = 0
    variations: int = 1
    guidance: float = DEFAULT_GUIDANCE
    steps: int = DEFAULT_REACT_STEPS
    out_dir: str = ""


@dataclass
class Cancel(Message):
    """Stop the job whose id is ``id``."""

    TYPE: ClassVar[str] = "cancel"


@dataclass
class Unload(Message):
    """Free the model's memory; the next job loads it again."""

    TYPE: ClassVar[str] = "unload"


@dataclass
class Shutdown(Message):
    TYPE: ClassVar[str] = "shutdown"


# --- replies (worker → add-on) --------------------------------------------------------------------


@dataclass
class Ready(Message):
    """Sent once at start-up and after ``unload``: what the worker runs and on which device."""

    TYPE: ClassVar[str] = "ready"
    model: str = ""
    device: str = ""
    loaded: bool = False
    versions: dict[str, str] = field(default_factory=dict)


@dataclass
class Progress(Message):
    TYPE: ClassVar[str] = "progress"
    step: int = 0
    total: int = 0
    stage: str = ""


@dataclass
class Result(Message):
    """A finished job: one clip file per variation, and how long each stage took (seconds)."""

    TYPE: ClassVar[str] = "result"
    clips: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Error(Message):
    TYPE: ClassVar[str] = "error"
    code: str = ErrorCode.INTERNAL
    message: str = ""


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TYPE: cls for cls in (Generate, React, Cancel, Unload, Shutdown, Ready, Progress, Result, Error)
}
REQUEST_TYPES = frozenset({"generate", "react", "cancel", "unload", "shutdown"})


def parse(line: str) -> Message:
    """Decode one line into its message, raising :class:`ProtocolError` for anything malformed."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ProtocolError("a message must be a JSON object")
    job_id = data.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise ProtocolError("a message needs a non-empty string 'id'")
    kind = data.get("type")
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {kind!r}", job_id=job_id)
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known) - {"type"}
    if unknown:
        raise ProtocolError(f"{kind}: unknown fields {sorted(unknown)}", job_id=job_id)
    try:
        message = cls(**{k: v for k, v in data.items() if k != "type"})
    except TypeError as exc:
        raise ProtocolError(f"{kind}: {exc}", job_id=job_id) from exc
    _check_types(message, data, job_id)
    return message


def _check_types(message: Message, data: dict[str, Any], job_id: str) -> None:
    defaults = type(message)(id=job_id)
    for name, value in data.items():
        if name in ("type", "id"):
            continue
        expected = type(getattr(defaults, name))
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if not ok or (expected is int and isinstance(value, bool)):
            raise ProtocolError(f"{message.TYPE}: field {name!r} must be {expected.__name__}", job_id=job_id)
        if expected is float:
            setattr(message, name, float(value))
