"""Foot contacts from joint positions (InterGen's rule) and the foot pin that holds them, the one definition
both halves use (numpy only)."""

from __future__ import annotations

import numpy as np

from .skeleton import CONTACT_JOINTS, NUM_JOINTS

#: InterGen's foot-contact thresholds: squared per-frame displacement (m²) and height (m) per contact joint.
CONTACT_SPEED_SQ = 0.001
CONTACT_HEIGHTS = np.array([0.12, 0.05, 0.12, 0.05])
#: How long (s) a held foot takes to ease into and out of its hold.
EASE_SECONDS = 0.1
#: A planted joint that moves less than this (m) over its contact already stands still.
STILL_TOLERANCE = 1e-4


def detect_contacts(positions: np.ndarray) -> np.ndarray:
    """Foot contacts [..., T, 4] from Y-up metre positions [..., T, 22, 3].

    A contact joint touches the ground when it moved less than sqrt(0.001) m to the next frame and is
    lower than 0.12 m (ankle) / 0.05 m (toe). The last frame has no next frame and reuses the one before.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"positions must end in shape ({NUM_JOINTS}, 3), got {positions.shape}")
    feet = positions[..., list(CONTACT_JOINTS), :]
    if feet.shape[-3] < 2:
        return feet[..., 1] < CONTACT_HEIGHTS
    speed_sq = np.sum(np.diff(feet, axis=-3) ** 2, axis=-1)
    speed_sq = np.concatenate([speed_sq, speed_sq[..., -1:, :]], axis=-2)
    return (speed_sq < CONTACT_SPEED_SQ) & (feet[..., 1] < CONTACT_HEIGHTS)


def contact_spans(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) frame ranges, end exclusive, where the bool flags [T] are set."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(flags).astype(int), [0]])))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def ease_window(count: int, start: int, end: int, fps: float) -> tuple[slice, np.ndarray]:
    """Where a hold over frames start..end-1 acts, and its weights there [W, 1]: 1 inside, falling
    linearly to 0 over :data:`EASE_SECONDS` on either side, so a held joint eases in and out of it."""
    ramp = max(1, int(round(EASE_SECONDS * fps)))
    frames = np.arange(max(0, start - ramp), min(count, end + ramp))
    outside = np.maximum(np.maximum(start - frames, frames - (end - 1)), 0)
    window = slice(int(frames[0]), int(frames[-1]) + 1)
    return window, np.clip(1.0 - outside / (ramp + 1.0), 0.0, 1.0)[:, None]


def pin_feet(goals: np.ndarray, contacts: np.ndarray, fps: float) -> np.ndarray:
    """Hold each planted ankle/toe of goals [T,22,3] at its mean position over the contact, easing in and
    out (:func:`ease_window`); the foot pin of the retarget. A contact whose joint is already still (to
    :data:`STILL_TOLERANCE`, e.g. a rigidly fitted clip whose feet the fit held) is left as it is, so
    pinning twice changes nothing."""
    out = goals.copy()
    for channel, joint in enumerate(CONTACT_JOINTS):
        for start, end in contact_spans(contacts[:, channel]):
            held = goals[start:end, joint].mean(axis=0)
            if np.abs(goals[start:end, joint] - held).max() <= STILL_TOLERANCE:
                continue
            window, weight = ease_window(len(goals), start, end, fps)
            out[window, joint] += weight * (held - out[window, joint])
    return out
