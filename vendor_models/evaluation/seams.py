"""How big a join is, against how much real motion changes from one frame to the next (numpy only).

A pop at a join is a sudden change of velocity. Per frame t and person we take the largest joint
velocity change ``‖p[t+1] − 2·p[t] + p[t−1]‖`` (metres per frame per frame at 30 fps). Real motion
capture has such changes too (a stamp, a hand clap); its 99th percentile over the real salsa pairs is
the bar a join must stay under. Used by the edit/long-take tests and ``tools/bench_long_take.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..motion.clip_file import Clip

PERCENTILE = 99.0


def frame_change(positions: np.ndarray) -> np.ndarray:
    """``[T, P, 22, 3]`` positions → ``[T, P]`` largest joint velocity change per frame and person (m);
    the first and last frame, which have no neighbour on one side, are 0."""
    p = np.asarray(positions, dtype=np.float64)
    change = np.zeros(p.shape[:2])
    if len(p) >= 3:
        change[1:-1] = np.linalg.norm(p[2:] - 2.0 * p[1:-1] + p[:-2], axis=-1).max(-1)
    return change


def join_jump(clip: Clip, frame: int, people: Iterable[int] | None = None, reach: int = 2) -> float:
    """The largest :func:`frame_change` within ``reach`` frames of a join at ``frame`` (the first new
    frame), over ``people`` (default everyone)."""
    change = frame_change(clip.positions)
    chosen = list(range(clip.num_people)) if people is None else list(people)
    lo, hi = max(1, frame - reach), min(clip.num_frames - 1, frame + reach + 1)
    return float(change[lo:hi, chosen].max()) if hi > lo else 0.0


def real_change_percentile(paths: Iterable[Path], percentile: float = PERCENTILE) -> float:
    """The ``percentile`` of :func:`frame_change` over every frame and person of the given real clips."""
    values = [frame_change(Clip.load(path).positions)[1:-1].ravel() for path in paths]
    if not values:
        raise ValueError("no real clips to measure")
    return float(np.percentile(np.concatenate(values), percentile))
