"""Changing a motion's frame rate: the converter, the reaction partner and the bake all use this (numpy only)."""

from __future__ import annotations

import numpy as np

from .clip_file import Clip
from .rotations import quat_normalize
from .skeleton import FPS


def resample_times(num_frames: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """Source frame positions (fractional) of every frame of the same span at ``dst_fps``."""
    return np.arange(0.0, (num_frames - 1) / src_fps + 1e-9, 1.0 / dst_fps) * src_fps


def resample(positions: np.ndarray, quats: np.ndarray, src_fps: float, dst_fps: float = FPS) -> tuple[np.ndarray, np.ndarray]:
    """Resample along axis 0: an exact stride when src/dst is a whole number, else lerp / nlerp."""
    ratio = src_fps / dst_fps
    if abs(ratio - round(ratio)) < 1e-3 and round(ratio) >= 1:
        step = int(round(ratio))
        return positions[::step], quats[::step]
    times = resample_times(positions.shape[0], src_fps, dst_fps)
    lo = np.minimum(np.floor(times).astype(int), positions.shape[0] - 2)
    w = (times - lo).reshape(-1, *(1,) * (positions.ndim - 1))
    pos = (1 - w) * positions[lo] + w * positions[lo + 1]
    a, b = quats[lo], quats[lo + 1]
    b = np.where(np.sum(a * b, axis=-1, keepdims=True) < 0, -b, b)
    return pos, quat_normalize((1 - w) * a + w * b)


def resample_clip(clip: Clip, fps: float) -> Clip:
    """The clip at another frame rate: positions lerp, rotations nlerp, contacts from the nearest frame."""
    if abs(float(clip.fps) - fps) < 1e-6:
        return clip
    positions, rotations = resample(clip.positions, clip.rotations, float(clip.fps), fps)
    nearest = np.rint(resample_times(clip.num_frames, float(clip.fps), fps)).astype(int)
    return Clip(positions, rotations, clip.contacts[np.minimum(nearest, clip.num_frames - 1)], fps, dict(clip.meta))
