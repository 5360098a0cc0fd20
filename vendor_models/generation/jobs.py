"""One worker request → the generation call that answers it (torch).

The worker and ``intermask sample`` both hand a protocol request here, so a request means the same thing
whichever front end sent it: ``generate`` longer than 10 s or with segments is a long take, ``react`` to
a partner longer than 10 s (or with segments) is a windowed reaction, ``edit`` and ``extend`` load their
clip file and edit it in time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..motion.clip_file import Clip, ClipError
from ..motion.protocol import (
    MAX_SECONDS,
    Edit,
    ErrorCode,
    Extend,
    Generate,
    JobRequest,
    React,
    Segment,
)
from ..motion.skeleton import FPS
from .errors import GenerationError
from .long_take import take, take_reaction
from .reaction import load_partner
from .time_edit import extend, regenerate

if TYPE_CHECKING:
    from .generator import GenerationOutput, Generator, ProgressFn, StopFn


def load_clip(path: str) -> Clip:
    """The two-person clip file an edit or extension starts from; a ``bad_clip`` error naming it otherwise."""
    if not path:
        raise GenerationError(ErrorCode.BAD_CLIP, "an edit needs the clip file to edit")
    try:
        return Clip.load(path)
    except (ClipError, OSError) as exc:
        raise GenerationError(ErrorCode.BAD_CLIP, str(exc)) from exc


def run_request(generator: Generator, request: JobRequest, progress: ProgressFn | None = None,
                should_stop: StopFn | None = None) -> GenerationOutput:
    """The clips that answer ``request`` (see the module doc for which call serves which request)."""
    sampler = request.sampler
    if isinstance(request, Generate):
        prompts = request.prompts or None
        if request.segments or request.seconds > MAX_SECONDS:
            segments = request.segments or [Segment(request.prompt, request.seconds)]
            return take(generator, segments, prompts=prompts, sampler=sampler, progress=progress,
                        should_stop=should_stop)
        return generator.generate(request.prompt, prompts=prompts, seconds=request.seconds, sampler=sampler,
                                  progress=progress, should_stop=should_stop)
    if isinstance(request, React):
        partner = load_partner(request.partner)
        if request.segments or (partner.num_frames - 1) / float(partner.fps) > MAX_SECONDS + 0.5 / FPS:
            segments = request.segments or [Segment(request.prompt, partner.seconds)]
            return take_reaction(generator, partner, segments, sampler=sampler, progress=progress,
                                 should_stop=should_stop)
        return generator.react(partner, request.prompt, sampler=sampler, progress=progress, should_stop=should_stop)
    if isinstance(request, Edit):
        return regenerate(generator, load_clip(request.clip), request.first, request.last, person=request.person,
                          prompt=request.prompt, sampler=sampler, progress=progress, should_stop=should_stop)
    if isinstance(request, Extend):
        return extend(generator, load_clip(request.clip), request.seconds, prompt=request.prompt, sampler=sampler,
                      progress=progress, should_stop=should_stop)
    raise GenerationError(ErrorCode.BAD_REQUEST, f"'{request.TYPE}' is not a generation request")
