"""The worker protocol: JSON lines between the Blender add-on and the model worker (stdlib only).

Every message is one JSON object on one line with a ``type`` and an ``id``. Requests name a job by
their ``id``; every reply carries the id of the request it answers (``ready`` uses :data:`WORKER_ID`).
Each job request (``generate``, ``react``, ``edit``, ``extend``) ends in exactly one ``result`` or
``error``; ``cancel`` names the
job to stop, which then ends with ``error`` code ``cancelled``. Arrays never travel in messages: clips
are ``.npz`` files (see :mod:`clip`) whose paths the messages carry.
"""

from __future__ import annotations

import argparse
import json
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

WORKER_ID = "worker"
MIN_SECONDS = 1.0
#: One window of the model (InterHuman's longest clip); longer takes are sampled in overlapping windows.
MAX_SECONDS = 10.0
MAX_TAKE_SECONDS = 60.0
#: Whose motion an ``edit`` regenerates.
PERSONS = ("a", "b", "both")
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
    BAD_CLIP = "bad_clip"
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


@dataclass(frozen=True)
class SamplerSettings:
    """How the sampler runs, carried whole from the panel or the command line to the generator.

    ``guidance`` or ``steps`` left ``None`` mean "the model's own default", so a model whose authors chose
    other settings (the official InterMask: 20 steps, guidance 2) keeps them. Variation ``v`` uses seed
    ``seed + v``.
    """

    seed: int = 0
    variations: int = 1
    guidance: float | None = None
    steps: int | None = None

    def resolved(self, guidance: float, steps: int) -> "SamplerSettings":
        """A copy with unset fields filled from the model's defaults."""
        return replace(self, guidance=self.guidance if self.guidance is not None else guidance,
                       steps=self.steps if self.steps is not None else steps)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "SamplerSettings":
        """The settings of a command line made with :func:`add_sampler_arguments`."""
        return cls(seed=args.seed, variations=args.variations, guidance=args.guidance, steps=args.steps)

    @classmethod
    def from_json(cls, data: object, job_id: str = "") -> "SamplerSettings":
        if not isinstance(data, dict) or set(data) - {f.name for f in fields(cls)}:
            raise ProtocolError(f"'sampler' must be an object with fields {[f.name for f in fields(cls)]}", job_id=job_id)
        for name, kinds in (("seed", (int,)), ("variations", (int,)), ("guidance", (int, float, type(None))),
                            ("steps", (int, type(None)))):
            value = data.get(name)
            if name in data and (not isinstance(value, kinds) or isinstance(value, bool)):
                raise ProtocolError(f"sampler field {name!r} has the wrong type", job_id=job_id)
        settings = cls(**data)
        return settings if settings.guidance is None else replace(settings, guidance=float(settings.guidance))


#: seed 0, one variation, the model's own guidance and steps (a default argument, built once)
DEFAULT_SAMPLER = SamplerSettings()


def add_sampler_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seed --variations --guidance --steps`` for every generating command (unset = the model's own)."""
    parser.add_argument("--seed", type=int, default=0, help="same seed, same motion")
    parser.add_argument("--variations", type=int, default=1, help="how many to generate (seeds seed, seed+1, …)")
    parser.add_argument("--guidance", type=float, help=f"classifier-free guidance (default: the model's; ours {DEFAULT_GUIDANCE:g})")
    parser.add_argument("--steps", type=int, help=f"unmasking steps (default: the model's; ours {DEFAULT_STEPS}, "
                        f"{DEFAULT_REACT_STEPS} for a reaction)")


@dataclass(frozen=True)
class Segment:
    """One stretch of a long take's prompt timeline: ``prompt`` for ``seconds``."""

    prompt: str
    seconds: float


def segments_from_json(data: object, job_id: str = "") -> list[Segment]:
    """``[{"prompt": P, "seconds": S}, ...]`` or ``[[P, S], ...]`` → segments; anything else is a ``ProtocolError``."""
    if not isinstance(data, list):
        raise ProtocolError("'segments' must be a list of {prompt, seconds} objects", job_id=job_id)
    segments = []
    for item in data:
        prompt, seconds = None, None
        if isinstance(item, dict) and set(item) == {"prompt", "seconds"}:
            prompt, seconds = item["prompt"], item["seconds"]
        elif isinstance(item, list) and len(item) == 2:
            prompt, seconds = item
        if not isinstance(prompt, str) or isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ProtocolError(f'segment {item!r} must be {{"prompt": text, "seconds": number}}', job_id=job_id)
        segments.append(Segment(prompt, float(seconds)))
    return segments


def parse_segments(text: str) -> list[Segment]:
    """A segments file: JSON (as :func:`segments_from_json` takes), or text with one ``SECONDS PROMPT``
    line per segment (blank lines and lines starting with ``#`` skipped)::

        12  two people dance salsa holding hands
        8   the follow spins under the lead's arm
    """
    if text.lstrip().startswith(("[", "{")):
        try:
            return segments_from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ProtocolError(f"segments file is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    segments = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        head, _, prompt = line.strip().partition(" ")
        try:
            seconds = float(head)
        except ValueError:
            raise ProtocolError(f"segments line {number} must be 'SECONDS PROMPT', got {line.strip()!r}") from None
        segments.append(Segment(prompt.strip(), seconds))
    return segments


def fit_segments(segments: list[Segment], seconds: float) -> list[Segment]:
    """``segments`` laid end to end over a take of ``seconds``: the last one that starts in time runs to
    the end (so ``12 salsa`` + ``8 spin`` over 30 s spins from 12 s to 30 s); later ones are dropped."""
    fitted: list[Segment] = []
    start = 0.0
    for segment in segments:
        if start >= seconds:
            break
        fitted.append(segment)
        start += segment.seconds
    if fitted:
        fitted[-1] = Segment(fitted[-1].prompt, seconds - (start - fitted[-1].seconds))
    return fitted


@dataclass
class Generate(Message):
    """Generate ``sampler.variations`` interactions for ``prompt`` (or per-person ``prompts`` [A, B]).

    Longer than ``MAX_SECONDS`` (up to ``MAX_TAKE_SECONDS``) is a long take sampled in windows;
    ``segments``, when given, replace ``prompt`` and ``seconds`` with a prompt timeline."""

    TYPE: ClassVar[str] = "generate"
    prompt: str = ""
    prompts: list[str] = field(default_factory=list)
    seconds: float = 6.0
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    out_dir: str = ""
    segments: list[Segment] = field(default_factory=list)


@dataclass
class React(Message):
    """Generate the partner of the one-person clip at ``partner`` (person A, kept fixed); a partner longer
    than ``MAX_SECONDS`` is answered in windows (up to ``MAX_TAKE_SECONDS``), ``segments`` as for generate."""

    TYPE: ClassVar[str] = "react"
    prompt: str = ""
    partner: str = ""
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    out_dir: str = ""
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Edit(Message):
    """Regenerate clip frames ``first``..``last`` (30 fps, inclusive) of ``person`` (a, b or both) in the
    two-person clip file ``clip``; everything else is kept as it is. An empty ``prompt`` reuses the clip's."""

    TYPE: ClassVar[str] = "edit"
    clip: str = ""
    first: int = 0
    last: int = 0
    person: str = "both"
    prompt: str = ""
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    out_dir: str = ""


@dataclass
class Extend(Message):
    """Continue the two-person clip file ``clip`` for ``seconds`` more, from its last seconds; an empty
    ``prompt`` reuses the clip's."""

    TYPE: ClassVar[str] = "extend"
    clip: str = ""
    seconds: float = 4.0
    prompt: str = ""
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    out_dir: str = ""


#: Every request that runs the model and ends in one ``result`` or ``error``.
JobRequest = Generate | React | Edit | Extend


def new_job_id() -> str:
    """The one job-id scheme of every front end: unique across processes and Blender sessions."""
    return f"job-{uuid.uuid4().hex[:12]}"


def job_request(prompt: str, sampler: SamplerSettings, out_dir: str, *, prompts: list[str] | None = None,
                seconds: float = 6.0, partner: str = "", segments: list[Segment] | None = None) -> Generate | React:
    """THE request builder of the panel and the command line: a reaction when ``partner`` names a clip file."""
    if partner:
        return React(new_job_id(), prompt=prompt, partner=partner, sampler=sampler, out_dir=out_dir,
                     segments=list(segments or []))
    return Generate(new_job_id(), prompt=prompt, prompts=list(prompts or []), seconds=float(seconds), sampler=sampler,
                    out_dir=out_dir, segments=list(segments or []))


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
    cls.TYPE: cls for cls in (Generate, React, Edit, Extend, Cancel, Unload, Shutdown, Ready, Progress, Result, Error)
}
REQUEST_TYPES = frozenset({"generate", "react", "edit", "extend", "cancel", "unload", "shutdown"})


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
    if "sampler" in data:
        data = dict(data, sampler=SamplerSettings.from_json(data["sampler"], job_id))
    if "segments" in data:
        data = dict(data, segments=segments_from_json(data["segments"], job_id))
    try:
        message = cls(**{k: v for k, v in data.items() if k != "type"})
    except TypeError as exc:
        raise ProtocolError(f"{kind}: {exc}", job_id=job_id) from exc
    _check_types(message, data, job_id)
    return message


def _check_types(message: Message, data: dict[str, Any], job_id: str) -> None:
    defaults = type(message)(id=job_id)
    for name, value in data.items():
        if name in ("type", "id", "sampler", "segments"):
            continue
        expected = type(getattr(defaults, name))
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if not ok or (expected is int and isinstance(value, bool)):
            raise ProtocolError(f"{message.TYPE}: field {name!r} must be {expected.__name__}", job_id=job_id)
        if expected is float:
            setattr(message, name, float(value))
