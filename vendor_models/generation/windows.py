"""Token maps longer than the model's window, filled one overlapping window at a time.

The Inter-M Transformer was trained on windows of at most ``MAX_SECONDS`` (75 token steps). A longer map
(a 30-second take, a long reaction, a stretch of a long clip) is filled left to right: each window sees
the tokens already there — the previous window's last ``overlap`` steps, kept tokens of an edited clip,
a reaction's partner — as fixed, and fills only what is still MASK (``sampling.sample_tokens``). The
whole map is decoded once afterwards by the caller, so the VQ-VAE sees one continuous motion.

Each window gets its own seed, derived from the variation's seed and the window index (window 0 uses the
seed itself, so a take's first window is what ``generate`` would sample for that seed and length), and
the prompt of the segment at the middle of what it fills.

Steps: the first window takes the sampler's steps; a later one fills fewer new columns (the overlap is
given) and takes steps in proportion, so each of its steps unmasks as many tokens as the first window's
do — as InterMask halves the steps of a reaction, where half the tokens are given. That keeps a take's
cost at that of separate clips of its length (``tools/bench_long_take.py``). Progress counts every step
of every window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..models.transformer.model import InterMTransformer
from ..motion.protocol import FRAMES_PER_TOKEN, MAX_SECONDS
from ..motion.skeleton import FPS
from .sampling import sample_tokens

#: token steps one window holds (10 s)
WINDOW_STEPS = int(MAX_SECONDS * FPS) // FRAMES_PER_TOKEN
#: token steps a window keeps from the one before (2 s): enough for the model to continue the motion,
#: little enough that windows cost ≤ 1.2 × separate clips of the same length
OVERLAP_STEPS = 15

ProgressFn = Callable[[int, int], None]
StopFn = Callable[[], bool]


@dataclass(frozen=True)
class Window:
    """Token columns ``[start, end)`` sampled in one pass."""

    start: int
    end: int


def plan_windows(free: np.ndarray, *, width: int = WINDOW_STEPS, overlap: int = OVERLAP_STEPS,
                 lead: int | None = None) -> list[Window]:
    """Windows that together cover every column where ``free [L]`` is True, left to right.

    The first window starts ``lead`` columns before the first free one (default ``overlap``; pulled back
    when the map ends within ``width``, so it has as much context as fits); each later window starts
    ``overlap`` columns before the first column still free, so it keeps that much of the previous one.
    """
    free = np.asarray(free, dtype=bool)
    if width < 1 or not 0 <= overlap < width:
        raise ValueError(f"need width ≥ 1 and 0 ≤ overlap < width, got {width}, {overlap}")
    length = len(free)
    windows: list[Window] = []
    col = _first_free(free, 0)
    while col is not None:
        if windows:
            start = max(0, col - overlap)
        else:
            start = max(0, min(col - (overlap if lead is None else lead), length - width))
        end = min(length, start + width)
        windows.append(Window(start, end))
        col = _first_free(free, end)
    return windows


def _first_free(free: np.ndarray, start: int) -> int | None:
    hits = np.flatnonzero(free[start:])
    return int(start + hits[0]) if len(hits) else None


def window_seed(seed: int, index: int) -> int:
    """The sampling seed of window ``index`` for a variation's ``seed``: the seed itself for window 0,
    otherwise a mix of both that no other (seed, window) pair shares."""
    if index == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, index]).generate_state(1)[0])


def fill_windows(transformer: InterMTransformer, known: torch.Tensor, windows: list[Window],
                 texts: list[torch.Tensor], *, seeds: list[int], steps: int, guidance: float, top_k: float,
                 progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> torch.Tensor:
    """``known [V, 2, G, L]`` (MASK where free) with every window's free tokens sampled, in order.

    ``texts[k] [V, Dt]`` conditions window ``k``; variation ``v`` samples window ``k`` with
    ``window_seed(seeds[v], k)`` and :func:`window_steps` steps. ``progress(done, total)`` after each step.
    """
    if len(texts) != len(windows):
        raise ValueError(f"one text per window: {len(windows)} windows, {len(texts)} texts")
    ids = known.clone()
    free = (known == transformer.config.mask_id).flatten(0, -2).any(0).cpu().numpy()
    counts = window_steps(free, windows, steps)
    total, done = sum(counts), 0
    for k, window in enumerate(windows):
        def step_done(i: int, _n: int, before: int = done) -> None:
            if progress is not None:
                progress(before + i, total)

        part = sample_tokens(transformer, texts[k], window.end - window.start,
                             seeds=[window_seed(s, k) for s in seeds], steps=counts[k], guidance=guidance, top_k=top_k,
                             known=ids[..., window.start:window.end], progress=step_done, should_stop=should_stop)
        ids[..., window.start:window.end] = part
        done += counts[k]
    return ids


def window_steps(free: np.ndarray, windows: list[Window], steps: int) -> list[int]:
    """Sampling steps per window: ``steps`` for the first, and for later ones in proportion to the columns
    still free when each runs (``free [L]`` past the windows before it) against the first's, rounded up."""
    new, filled = [], 0
    for w in windows:
        new.append(int(free[max(w.start, filled):w.end].sum()))
        filled = max(filled, w.end)
    return [steps] + [min(steps, max(1, -(-steps * n // max(new[0], 1)))) for n in new[1:]]
