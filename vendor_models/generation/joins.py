"""Putting newly generated frames into kept motion without a pop (numpy only).

A regenerated stretch or a continuation is decoded together with the kept tokens around it, so the
decoder already joins them smoothly. But decoded motion is the VQ-VAE's reconstruction, centimetres off
the kept motion it stands for; only the new frames are taken from it (the kept frames stay exactly as
they were), so at a join the two disagree by that reconstruction error. At the kept frame next to each
join we measure, per person and joint, the error in position and in velocity, and add to the new frames
an offset that starts as exactly that error and fades to zero over ``BLEND_FRAMES`` (a quintic Hermite
curve: no jump in position, velocity or acceleration where it starts or ends). So the new motion leaves
the kept motion with its velocity, and after the blend it is the decoder's. Rotations get the
position-free part: the rotation error at the join, faded the same way. Nothing outside the new frames
changes.
"""

from __future__ import annotations

import numpy as np

from ..motion.clip_file import Clip
from ..motion.rotations import quat_conjugate, quat_multiply, quat_normalize

#: frames over which the reconstruction error fades at each join (0.4 s at 30 fps)
BLEND_FRAMES = 12


def hermite_fade(count: int, blend: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``[count]`` of an offset and of its slope at distance 0, 1, … from a join: the quintic
    Hermite basis (value 1 / slope 1 at 0, value, slope and curvature 0 at ``blend`` and beyond)."""
    s = np.clip(np.arange(1, count + 1) / max(blend, 1), 0.0, 1.0)
    value = 1.0 - s ** 3 * (10.0 - 15.0 * s + 6.0 * s * s)
    slope = blend * s * (1.0 - s) ** 3 * (1.0 + 3.0 * s)
    return value, slope


def _scaled_rotation(q: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``q^weight`` per frame (nlerp from the identity on q's short arc): ``weight [N]``, ``q [..., 4]``."""
    q = np.where(q[..., :1] < 0, -q, q)
    identity = np.zeros_like(q)
    identity[..., 0] = 1.0
    w = weight.reshape(-1, *(1,) * q.ndim)
    return quat_normalize((1.0 - w) * identity + w * q)


def splice(kept: Clip, new: Clip, first: int, last: int, people: list[int], blend: int = BLEND_FRAMES) -> Clip:
    """``kept`` with frames ``first..last`` of ``people`` taken from ``new``, offset to meet the kept frames.

    ``new`` is in ``kept``'s world frame, frame-aligned with it, and holds at least ``last + 1`` frames
    (plus two frames before ``first`` and after ``last`` where ``kept`` has them). ``last`` past
    ``kept``'s end makes the result longer (a continuation: only the join at ``first``). Frames outside
    ``first..last`` and people not in ``people`` are ``kept``'s, unchanged.
    """
    total = max(kept.num_frames, last + 1)
    if not 0 <= first <= last < new.num_frames or first > kept.num_frames:
        raise ValueError(f"frames {first}..{last} do not fit clips of {kept.num_frames} and {new.num_frames} frames")
    positions = _grown(kept.positions, total).astype(np.float64)
    rotations = _grown(kept.rotations, total).astype(np.float64)
    contacts = _grown(kept.contacts, total)
    span = slice(first, last + 1)
    count = last + 1 - first
    two_sided = last + 1 < kept.num_frames
    # a stretch shorter than two blends: each fade runs to the far join, and the two errors are interpolated
    blend = min(blend, count + 1)
    # (anchor = kept frame next to the join, step = direction from it into the new frames, weights by distance)
    joins = [(first - 1, 1, hermite_fade(count, blend))] if first > 0 else []
    if two_sided:
        value, slope = hermite_fade(count, blend)
        joins.append((last + 1, -1, (value[::-1], slope[::-1])))
    for p in people:
        pos = new.positions[span, p].astype(np.float64)
        rot = new.rotations[span, p].astype(np.float64)
        for anchor, step, (value, slope) in joins:
            error = kept.positions[anchor, p].astype(np.float64) - new.positions[anchor, p]
            behind = anchor - step                          # the kept frame before the anchor, seen from the join
            drift = np.zeros_like(error)
            if 0 <= behind < kept.num_frames and behind < new.num_frames:
                drift = error - (kept.positions[behind, p].astype(np.float64) - new.positions[behind, p])
            pos = pos + value[:, None, None] * error + slope[:, None, None] * drift
            turn = quat_multiply(kept.rotations[anchor, p], quat_conjugate(new.rotations[anchor, p]))
            rot = quat_multiply(_scaled_rotation(turn, value), rot)
        positions[span, p], rotations[span, p], contacts[span, p] = pos, quat_normalize(rot), new.contacts[span, p]
    return Clip(positions, rotations, contacts, kept.fps, dict(kept.meta))


def _grown(array: np.ndarray, frames: int) -> np.ndarray:
    """``array`` with room for ``frames`` frames (new frames are filled by the caller)."""
    if array.shape[0] >= frames:
        return array.copy()
    return np.concatenate([array, np.repeat(array[-1:], frames - array.shape[0], axis=0)])
