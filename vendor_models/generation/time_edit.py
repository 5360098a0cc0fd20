"""Edits in time of an existing two-person clip: regenerate a stretch, or continue it (torch).

Both keep the clip's own motion as tokens (``canvas.encode_piece``), mask the token steps to make — the
columns covering frames ``first..last`` for one or both people, or new columns after the end — and let
the Inter-M Transformer fill them in with every other token fixed (``windows.fill_windows``, one window
when the stretch and its context fit in 10 s). The decoded new frames are spliced into the ORIGINAL
motion (``joins.splice``): outside the regenerated frames the result is the input, bit for bit.

The prompt defaults to the clip's own (``meta["text"]``); a new one steers only what is regenerated. The
result keeps the clip's prompt and text in its meta (they still describe most of it, and they are the
default of the next edit) and records the edit, with the prompt and text it used, under ``meta["edit"]``
or ``meta["extend"]``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..motion.clip_file import Clip
from ..motion.protocol import (
    DEFAULT_SAMPLER,
    FRAMES_PER_TOKEN,
    MAX_TAKE_SECONDS,
    MIN_SECONDS,
    PERSONS,
    ErrorCode,
    SamplerSettings,
)
from ..motion.skeleton import FPS
from .canvas import aligned, checked_clip, decode_people, encode_piece, in_world
from .errors import GenerationError
from .joins import splice
from .windows import OVERLAP_STEPS, WINDOW_STEPS, Window, fill_windows, plan_windows

if TYPE_CHECKING:
    from .generator import GenerationOutput, Generator, ProgressFn, StopFn

#: token steps decoded past the last window, so the decoder's edge is not where new frames are taken
DECODE_MARGIN = 4


def regenerate(generator: Generator, clip: Clip, first: int, last: int, *, person: str = "both", prompt: str = "",
               sampler: SamplerSettings = DEFAULT_SAMPLER, progress: ProgressFn | None = None,
               should_stop: StopFn | None = None) -> GenerationOutput:
    """``clip`` with frames ``first..last`` (inclusive, 30 fps) of ``person`` (a, b, both) generated anew."""
    clip = checked_clip(clip, 2, "clip to edit")
    if person not in PERSONS:
        raise GenerationError(ErrorCode.BAD_REQUEST, f"person must be one of {', '.join(PERSONS)}, got {person!r}")
    if not (_is_int(first) and _is_int(last) and 0 <= first <= last < clip.num_frames):
        raise GenerationError(ErrorCode.BAD_REQUEST, f"frames {first}:{last} must lie within the clip's frames "
                              f"0:{clip.num_frames - 1}, first before last")
    if (last - first + 1) / FPS > MAX_TAKE_SECONDS:
        raise GenerationError(ErrorCode.BAD_SECONDS, f"a regenerated stretch is at most {MAX_TAKE_SECONDS:g} s")
    people = {"a": [0], "b": [1], "both": [0, 1]}[person]
    columns = -(-clip.num_frames // FRAMES_PER_TOKEN)
    free = np.zeros(columns, dtype=bool)
    first_column, last_column = first // FRAMES_PER_TOKEN, last // FRAMES_PER_TOKEN
    free[first_column:last_column + 1] = True
    # the windows must also see kept motion after the stretch, so its last window reaches that far too
    covered = free.copy()
    covered[last_column + 1:last_column + 1 + OVERLAP_STEPS] = True
    span = last_column + 1 - first_column
    windows = plan_windows(covered, lead=max(OVERLAP_STEPS, (WINDOW_STEPS - span) // 2))
    meta = {"mode": "edit", "edit": {"first": int(first), "last": int(last), "person": person}}
    return _complete(generator, clip, free, people, windows, columns, (first, last), prompt, meta, sampler,
                     progress, should_stop)


def extend(generator: Generator, clip: Clip, seconds: float, *, prompt: str = "",
           sampler: SamplerSettings = DEFAULT_SAMPLER, progress: ProgressFn | None = None,
           should_stop: StopFn | None = None) -> GenerationOutput:
    """``clip`` followed by ``seconds`` more of both people, continuing from its last seconds."""
    clip = checked_clip(clip, 2, "clip to extend")
    if not (isinstance(seconds, (int, float)) and MIN_SECONDS <= float(seconds) <= MAX_TAKE_SECONDS):
        raise GenerationError(ErrorCode.BAD_SECONDS, f"an extension is {MIN_SECONDS:g} to {MAX_TAKE_SECONDS:g} s, got {seconds}")
    added = round(float(seconds) * FPS)
    kept_columns = (clip.num_frames - 1) // FRAMES_PER_TOKEN          # whole token steps of real frames
    columns = -(-(clip.num_frames + added) // FRAMES_PER_TOKEN)
    free = np.arange(columns) >= kept_columns
    meta = {"mode": "extend", "extend": {"from_frame": clip.num_frames, "seconds": added / FPS}}
    return _complete(generator, clip, free, [0, 1], plan_windows(free), kept_columns,
                     (clip.num_frames, clip.num_frames + added - 1), prompt, meta, sampler, progress, should_stop)


def _complete(generator: Generator, clip: Clip, free: np.ndarray, people: list[int], windows: list[Window],
              encoded: int, frames: tuple[int, int], prompt: str, meta: dict[str, Any], sampler: SamplerSettings,
              progress: ProgressFn | None, should_stop: StopFn | None) -> GenerationOutput:
    """Fill ``free`` columns of ``people`` window by window, decode once, splice ``frames`` into ``clip``.

    Only the first ``encoded`` columns exist in the clip; the piece runs from the first window to the
    last one plus :data:`DECODE_MARGIN`, so the canonical frame is the first window's.
    """
    from .generator import _check_prompt, _checked, flush_denormals

    flush_denormals()
    warnings: list[str] = []
    text = _check_prompt(prompt or str(clip.meta.get("text") or clip.meta.get("prompt") or ""), None, warnings)
    sampler = _checked(sampler, *generator.sampler_defaults())
    started = time.perf_counter()
    start, end = windows[0].start, min(len(free), windows[-1].end + DECODE_MARGIN)
    piece = encode_piece(generator, clip, start, min(end, encoded) - start)
    mask_id = generator.transformer.config.mask_id
    known = piece.codes.new_full((2, *piece.codes.shape[1:-1], end - start), mask_id)
    known[..., :piece.codes.shape[-1]] = piece.codes
    chosen = np.zeros((2, end - start), dtype=bool)
    chosen[people] = free[start:end]
    known[torch.from_numpy(chosen)[:, None, :].expand_as(known).to(known.device)] = mask_id
    variations = int(sampler.variations)
    vector = generator.encoder.encode([text]).to(generator.torch_device).expand(variations, -1)
    encoded_at = time.perf_counter()
    ids = fill_windows(generator.transformer, known.expand(variations, *known.shape),
                       [Window(w.start - start, w.end - start) for w in windows], [vector] * len(windows),
                       seeds=[int(sampler.seed) + v for v in range(variations)], steps=int(sampler.steps or 0),
                       guidance=float(sampler.guidance or 0.0), top_k=generator.top_k,
                       progress=None if progress is None else (lambda i, n: progress(i, n, "sampling")),
                       should_stop=should_stop)
    timings = {"encode_s": encoded_at - started, "sampling_s": time.perf_counter() - encoded_at}
    decoded_at = time.perf_counter()
    feats = decode_people(generator, ids[:, people])
    floors = piece.frame.floors[people]
    clips = []
    for v in range(variations):
        new = aligned(clip, in_world(feats[v], piece, floors), piece.first_frame, people)
        out = splice(clip, new, frames[0], frames[1], people)
        out.meta = {"prompt": prompt, "text": text, **clip.meta, **generator._sampler_meta(sampler), **meta,
                    meta["mode"]: {**meta[meta["mode"]], "prompt": prompt, "text": text},
                    "windows": len(windows), "variation": v}
        clips.append(out)
    return generator._finish(clips, warnings, timings, decoded_at, progress)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
