"""Reaction mode helpers: check and cut the given partner clip, and map generated motion back into the
partner's world frame.

The model works in the canonical frame of person 1 (InterGen's: per-person floor at Y = 0, person 1's
frame-0 root at the origin facing +Z; see ``features.canonicalise``). For a reaction the partner is
person 1, so the canonical frame is the partner's own, and :class:`WorldFrame` is the inverse of that
canonicalisation: a yaw about +Y, a horizontal offset and the partner's floor height.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clip import Clip
from .features import facing_angle, resample_clip
from .generation_errors import GenerationError
from .protocol import MAX_SECONDS, MIN_SECONDS, ErrorCode
from .rotations import quat_multiply, quat_normalize, quat_rotate, yaw_quat
from .skeleton import FPS

FRAMES_PER_TOKEN = 4


def partner_window(partner: object, warnings: list[str]) -> Clip:
    """The partner as a 30 fps one-person clip of 4·k + 1 frames (k token steps, 1 to 10 s)."""
    if not isinstance(partner, Clip):
        raise GenerationError(ErrorCode.BAD_PARTNER, f"the partner must be a clip, got {type(partner).__name__}")
    if partner.num_people != 1:
        raise GenerationError(ErrorCode.BAD_PARTNER,
                              f"the partner clip must hold exactly one person, it has {partner.num_people}")
    clip = partner
    if abs(float(partner.fps) - FPS) > 1e-6:
        clip = resample_clip(partner, FPS)
        warnings.append(f"the partner clip was resampled from {float(partner.fps):g} fps to {FPS:g} fps")
    need = int(np.ceil(MIN_SECONDS * FPS))
    if clip.num_frames - 1 < need:
        raise GenerationError(ErrorCode.BAD_PARTNER, f"the partner clip is too short: {clip.num_frames} frames, "
                              f"at least {need + 1} ({MIN_SECONDS:g} s at {FPS:g} fps) are needed")
    rows = min(clip.num_frames - 1, int(MAX_SECONDS * FPS)) // FRAMES_PER_TOKEN * FRAMES_PER_TOKEN
    if clip.num_frames - 1 > MAX_SECONDS * FPS:
        warnings.append(f"the partner clip is longer than {MAX_SECONDS:g} s; only its first {MAX_SECONDS:g} s are used")
    end = rows + 1
    return Clip(clip.positions[:end], clip.rotations[:end], clip.contacts[:end], FPS, dict(clip.meta))


@dataclass(frozen=True)
class WorldFrame:
    """canonical → world: rotate by ``yaw`` about +Y, then add ``offset`` (horizontal origin + floor)."""

    yaw: float
    offset: np.ndarray

    @classmethod
    def of(cls, partner: Clip) -> "WorldFrame":
        """The inverse of canonicalising the one-person clip ``partner`` (same rules as ``canonicalise``)."""
        positions = partner.positions[:, 0].astype(np.float64)
        floor = float(positions[..., 1].min())
        origin = positions[0, 0] * np.array([1.0, 0.0, 1.0])
        return cls(float(facing_angle(positions[0])), origin + np.array([0.0, floor, 0.0]))

    def to_world(self, clip: Clip) -> Clip:
        turn = yaw_quat(np.asarray(self.yaw))
        positions = quat_rotate(turn, clip.positions.astype(np.float64)) + self.offset
        rotations = clip.rotations.astype(np.float64).copy()
        rotations[:, :, 0] = quat_normalize(quat_multiply(turn, rotations[:, :, 0]))
        return Clip(positions, rotations, clip.contacts, clip.fps, dict(clip.meta))
