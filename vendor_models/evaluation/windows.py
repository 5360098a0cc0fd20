"""Fixed-length two-person windows of the real pairs, captioned from their measured motion (numpy only).

The evaluation compares like with like: every motion, real or generated, is a window of ``WINDOW_FRAMES``
frames, turned into pair features by the same :func:`features.pair_features` (canonicalised as InterGen),
and every text comes from the captioner run on that window. Augmented copies (mirror, person swap) are
re-captioned on the transformed motion, so handed words and role names stay true.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.captioner import describe
from ..motion.clip_file import Clip
from ..motion.features import mirror, pair_features
from ..motion.skeleton import FPS

#: 4 s: long enough for a spin, a few steps and a change of distance; a multiple of 4 for the generator.
WINDOW_FRAMES = 120
CAPTIONS_PER_WINDOW = 3


@dataclass
class Window:
    """One two-person window of a real clip with its captions; ``name`` is ``clip@start[+aug]``."""

    clip: Clip
    captions: list[str]
    name: str


def _swap(clip: Clip) -> Clip:
    order = [1, 0]
    return Clip(clip.positions[:, order], clip.rotations[:, order], clip.contacts[:, order], clip.fps, dict(clip.meta))


def windows_of(clip: Clip, name: str, frames: int, stride: int, seed: int, augment: bool = False,
               offset: int = 0) -> list[Window]:
    """Cut a two-person clip into windows (starting at ``offset``, then every ``stride`` frames), captioned.

    With ``augment`` every window also comes mirrored, person-swapped, and both, each re-captioned.
    Captions are drawn with a generator seeded by ``seed`` and the window's position, so they are repeatable.
    """
    if clip.num_people != 2:
        raise ValueError(f"{name}: evaluation windows need two-person clips, got {clip.num_people}")
    out: list[Window] = []
    for start in range(offset, clip.num_frames - frames + 1, stride):
        base = Clip(clip.positions[start:start + frames], clip.rotations[start:start + frames],
                    clip.contacts[start:start + frames], clip.fps, {"source": name, "start": start})
        variants = [("", base)]
        if augment:
            mirrored = mirror(base)
            variants += [("+mirror", mirrored), ("+swap", _swap(base)), ("+mirror+swap", _swap(mirrored))]
        for k, (tag, window) in enumerate(variants):
            rng = np.random.default_rng([seed, start, k])
            texts = describe(window.positions, window.contacts, window.fps, rng, n=CAPTIONS_PER_WINDOW)
            out.append(Window(window, texts, f"{name}@{start}{tag}"))
    return out


def load_windows(paths: list[Path], frames: int = WINDOW_FRAMES, stride: int = FPS, seed: int = 0,
                 augment: bool = False, offset: int = 0) -> list[Window]:
    """Windows of every two-person clip file in ``paths`` (e.g. ``data.build.load_split("test", people=2)``)."""
    out: list[Window] = []
    for path in paths:
        clip = Clip.load(path)
        out += windows_of(clip, Path(path).stem, frames, stride, seed, augment, offset)
    return out


def window_features(clips: list[Clip]) -> np.ndarray:
    """Pair features [B, T-1, 2, 262] of equal-length two-person clips (canonicalised as InterGen)."""
    lengths = {c.num_frames for c in clips}
    if len(lengths) != 1:
        raise ValueError(f"window_features needs clips of one length, got {sorted(lengths)}")
    return np.stack([pair_features(c) for c in clips]).astype(np.float32)
