"""Foot contacts from joint positions (InterGen's rule) and the foot pin that holds them, the one definition
both halves use (numpy only)."""

from __future__ import annotations

import numpy as np

from .skeleton import CONTACT_JOINTS, NUM_JOINTS

#: InterGen's foot-contact thresholds: squared per-frame displacement (m²) and height (m) per contact joint.
CONTACT_SPEED_SQ = 0.001
CONTACT_HEIGHTS = np.array([0.12, 0.05, 0.12, 0.05])


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


def pin_feet(goals: np.ndarray, contacts: np.ndarray, fps: float) -> np.ndarray:
    """Hold each planted ankle/toe of goals [T,22,3] at its mean position over the contact, easing in and
    out over 0.1 s; the one foot pin of the rigid fit and the retarget."""
    out = goals.copy()
    frames = np.arange(goals.shape[0])
    ramp = max(1, int(round(0.1 * fps)))
    for channel, joint in enumerate(CONTACT_JOINTS):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], contacts[:, channel].astype(int), [0]])))
        for start, end in zip(edges[0::2], edges[1::2]):
            held = goals[start:end, joint].mean(axis=0)
            outside = np.maximum(np.maximum(start - frames, frames - (end - 1)), 0)
            weight = np.clip(1.0 - outside / (ramp + 1.0), 0.0, 1.0)[:, None]
            out[:, joint] += weight * (held - out[:, joint])
    return out
