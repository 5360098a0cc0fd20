"""Foot contacts from joint positions (InterGen's rule), the one definition both halves use (numpy only)."""

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
