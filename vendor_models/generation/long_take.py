"""Takes longer than the model's 10-second window: two people, or a reaction to a long partner (torch).

The take is ONE token map per person, filled by overlapping windows (``windows.fill_windows``: each
window keeps the previous one's last 2 s of tokens fixed) and decoded once at the end, so no window
boundary is ever a decoder boundary. The prompt can change along the take: a list of (prompt, seconds)
segments, each window conditioned on the segment at the middle of what it fills.

Coordinates: the whole map lives in the canonical frame of the take's first frame (of the partner's, for a
reaction), as one clip does; later windows therefore start wherever the dancers have got to, not at the
origin as the model's training windows did. ``tools/bench_long_take.py`` reports how far they travel.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..motion.clip_file import Clip, stack_people
from ..motion.features import clip_from_features
from ..motion.protocol import (
    DEFAULT_SAMPLER,
    FRAMES_PER_TOKEN,
    MAX_TAKE_SECONDS,
    MIN_SECONDS,
    ErrorCode,
    SamplerSettings,
    Segment,
)
from ..motion.skeleton import FPS
from .canvas import decode_people, encode_piece
from .errors import GenerationError
from .reaction import into_partner_world, partner_window
from .windows import Window, fill_windows, plan_windows

if TYPE_CHECKING:
    from .generator import GenerationOutput, Generator, ProgressFn, StopFn


def take(generator: Generator, segments: list[Segment], *, prompts: list[str] | None = None,
         sampler: SamplerSettings = DEFAULT_SAMPLER, progress: ProgressFn | None = None,
         should_stop: StopFn | None = None) -> GenerationOutput:
    """Two-person clips as long as the ``segments`` together (1 to 60 s); per-person ``prompts`` [A, B]
    are added to every segment's prompt."""
    from .generator import _placed, frames_for

    warnings: list[str] = []
    texts = _timeline(segments, prompts, warnings)
    total = sum(s.seconds for s in segments)
    if not MIN_SECONDS <= total <= MAX_TAKE_SECONDS:
        raise GenerationError(ErrorCode.BAD_SECONDS, f"a take is {MIN_SECONDS:g} to {MAX_TAKE_SECONDS:g} s long, "
                              f"the segments add up to {total:g} s")
    columns = frames_for(total) // FRAMES_PER_TOKEN
    meta = {"prompt": timeline_prompt(segments), "prompts": list(prompts or []), "text": texts[0][0], "mode": "take",
            "segments": [[s.prompt, s.seconds] for s in segments]}
    ids, windows, timings, sampler = _fill(generator, None, columns, texts, sampler, progress, should_stop)
    started = time.perf_counter()
    feats = decode_people(generator, ids)
    clips = [_placed(clip_from_features(feats[v], FPS, dict(meta, **generator._sampler_meta(sampler),
                                                                   windows=len(windows), variation=v)))
             for v in range(len(feats))]
    return generator._finish(clips, warnings, timings, started, progress)


def take_reaction(generator: Generator, partner: Clip, segments: list[Segment], *,
                  sampler: SamplerSettings = DEFAULT_SAMPLER, progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None) -> GenerationOutput:
    """The other person for a one-person ``partner`` of up to 60 s, in the partner's world frame.

    The partner is person A of every clip exactly as given (cut to whole token steps); the segments set
    the prompt along it (the last one holds to the end)."""
    warnings: list[str] = []
    texts = _timeline(segments, None, warnings)
    window = partner_window(partner, warnings, longest=MAX_TAKE_SECONDS)
    frames = window.num_frames - 1
    piece = encode_piece(generator, window, 0, frames // FRAMES_PER_TOKEN)
    meta = {"prompt": timeline_prompt(segments), "prompts": [], "text": texts[0][0], "mode": "react",
            "segments": [[s.prompt, s.seconds] for s in segments], "partner": dict(partner.meta)}
    ids, windows, timings, sampler = _fill(generator, piece.codes[0], frames // FRAMES_PER_TOKEN, texts, sampler,
                                           progress, should_stop)
    started = time.perf_counter()
    feats = decode_people(generator, ids[:, 1:])
    person_a = Clip(window.positions[:frames], window.rotations[:frames], window.contacts[:frames], FPS)
    clips = [stack_people([person_a, into_partner_world(clip_from_features(feats[v][:, 0], FPS), window)],
                          dict(meta, **generator._sampler_meta(sampler), windows=len(windows), variation=v))
             for v in range(len(feats))]
    return generator._finish(clips, warnings, timings, started, progress)


def timeline_prompt(segments: list[Segment]) -> str:
    """What a take was asked for, in one line (the preview's title, the action's name): its distinct
    prompts in order, joined by arrows."""
    return " → ".join(dict.fromkeys(s.prompt.strip() for s in segments))


def _timeline(segments: list[Segment], prompts: list[str] | None, warnings: list[str]) -> list[tuple[str, float]]:
    """(model text, seconds) per segment, every prompt checked like a single clip's."""
    from .generator import _check_prompt

    if not segments:
        raise GenerationError(ErrorCode.BAD_PROMPT, "a take needs at least one (prompt, seconds) segment")
    timeline = []
    for segment in segments:
        if not (np.isfinite(segment.seconds) and segment.seconds > 0):
            raise GenerationError(ErrorCode.BAD_SECONDS, f"segment {segment.prompt!r} must last more than 0 s, "
                                  f"not {segment.seconds:g}")
        found: list[str] = []
        timeline.append((_check_prompt(segment.prompt, prompts, found), float(segment.seconds)))
        warnings.extend(w for w in found if w not in warnings)
    return timeline


def window_prompts(texts: list[tuple[str, float]], windows: list[Window]) -> list[str]:
    """The text of each window: the segment at the middle of the columns it fills (the columns after the
    previous window's end); past the last segment, the last one."""
    ends = np.cumsum([seconds for _, seconds in texts])
    chosen = []
    for k, window in enumerate(windows):
        first_new = windows[k - 1].end if k else window.start
        middle_s = (first_new + window.end) / 2 * FRAMES_PER_TOKEN / FPS
        chosen.append(texts[min(int(np.searchsorted(ends, middle_s, side="right")), len(texts) - 1)][0])
    return chosen


def _fill(generator: Generator, partner: torch.Tensor | None, columns: int, texts: list[tuple[str, float]],
          sampler: SamplerSettings, progress: ProgressFn | None,
          should_stop: StopFn | None) -> tuple[torch.Tensor, list[Window], dict[str, float], SamplerSettings]:
    """The take's token maps ``[V, 2, G, columns]`` (person 1 = ``partner`` when given), window by window."""
    from .generator import _checked, flush_denormals

    flush_denormals()
    sampler = _checked(sampler, *generator.sampler_defaults(react=partner is not None))
    started = time.perf_counter()
    variations = int(sampler.variations)
    cfg: Any = generator.transformer.config
    known = torch.full((variations, 2, cfg.groups, columns), cfg.mask_id, dtype=torch.long,
                       device=generator.torch_device)
    if partner is not None:
        known[:, 0] = partner
    windows = plan_windows(np.ones(columns, dtype=bool))
    prompts = window_prompts(texts, windows)
    distinct = sorted(set(prompts))
    vectors = dict(zip(distinct, generator.encoder.encode(distinct).to(generator.torch_device)))
    encoded = time.perf_counter()
    ids = fill_windows(generator.transformer, known, windows, [vectors[p].expand(variations, -1) for p in prompts],
                       seeds=[int(sampler.seed) + v for v in range(variations)], steps=int(sampler.steps or 0),
                       guidance=float(sampler.guidance or 0.0), top_k=generator.top_k,
                       progress=None if progress is None else (lambda i, n: progress(i, n, "sampling")),
                       should_stop=should_stop)
    return ids, windows, {"text_s": encoded - started, "sampling_s": time.perf_counter() - encoded}, sampler
