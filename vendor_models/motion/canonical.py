"""Facing and THE canonical frame (InterGen's), with its exact inverse (numpy only).

The model works in the canonical frame of person 1: each person's lowest joint over the clip at Y = 0
(or one shared floor), person 1's frame-0 root at the origin and its frame-0 hips facing +Z. Data
conversion, training features, the placement of generated pairs and the reaction's return to the
partner's world all go through :func:`canonical_frame`, so they cannot disagree about what "facing" is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clip_file import Clip
from .contacts import detect_contacts
from .rotations import quat_multiply, quat_normalize, quat_rotate, yaw_quat
from .skeleton import FACE_JOINTS, NUM_JOINTS

_UP = np.array([0.0, 1.0, 0.0])


def facing_angle(positions: np.ndarray, hips_only: bool = False) -> np.ndarray:
    """Yaw (radians about +Y) of the body's forward direction [..., 22, 3]; 0 means facing +Z.

    forward = up × (r_hip − l_hip + r_shoulder − l_shoulder), HumanML3D's steadier estimate; with
    ``hips_only`` it is up × (r_hip − l_hip), which is what InterGen's canonicalisation uses.
    """
    r_hip, l_hip, r_sh, l_sh = (positions[..., j, :] for j in FACE_JOINTS)
    across = r_hip - l_hip if hips_only else (r_hip - l_hip) + (r_sh - l_sh)
    forward = np.cross(_UP, across)
    return np.arctan2(forward[..., 0], forward[..., 2])


@dataclass(frozen=True)
class CanonicalFrame:
    """world → canonical: lower each person by its ``floors[p]``, move ``origin`` to 0, turn by −``yaw``."""

    yaw: float
    origin: np.ndarray      # [3], horizontal (y = 0): person 1's frame-0 root after the floor shift
    floors: np.ndarray      # [P] floor height of each person in the world

    def apply(self, positions: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[T, P, 22, 3] world positions and [T, P, 22, 4] rotations → canonical (float64)."""
        turn = yaw_quat(np.asarray(-self.yaw))
        lowered = np.asarray(positions, dtype=np.float64) - _UP * self.floors[None, :, None, None]
        rotations = np.array(rotations, dtype=np.float64)
        rotations[:, :, 0] = quat_normalize(quat_multiply(turn, rotations[:, :, 0]))
        return quat_rotate(turn, lowered - self.origin), rotations

    def invert(self, positions: np.ndarray, rotations: np.ndarray,
               floors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The exact inverse of :meth:`apply`. ``floors`` [P] overrides the per-person floors, e.g. to put
        a generated person on its partner's floor."""
        floors = self.floors if floors is None else np.asarray(floors, dtype=np.float64)
        turn = yaw_quat(np.asarray(self.yaw))
        world = quat_rotate(turn, np.asarray(positions, dtype=np.float64)) + self.origin
        rotations = np.array(rotations, dtype=np.float64)
        rotations[:, :, 0] = quat_normalize(quat_multiply(turn, rotations[:, :, 0]))
        return world + _UP * floors[None, :, None, None], rotations


def canonical_frame(positions: np.ndarray, shared_floor: bool = False) -> CanonicalFrame:
    """The canonical frame of [T, P, 22, 3] world positions; person 0 (its frame 0) defines it."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 4 or positions.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"expected positions [T, P, {NUM_JOINTS}, 3], got {positions.shape}")
    floors = positions[..., 1].min(axis=(0, 2))
    if shared_floor:
        floors = np.full_like(floors, floors.min())
    origin = positions[0, 0, 0] * np.array([1.0, 0.0, 1.0])
    return CanonicalFrame(float(facing_angle(positions[0, 0], hips_only=True)), origin, floors)


def canonicalise(positions: np.ndarray, rotations: np.ndarray,
                 shared_floor: bool = False) -> tuple[np.ndarray, np.ndarray, CanonicalFrame]:
    """Positions and rotations in their canonical frame (float32), and the frame that was applied.

    One rigid transform is applied to everyone, so partners keep their true relative placement; only
    root rotations change.
    """
    if np.shape(rotations)[:2] != np.shape(positions)[:2] or np.shape(rotations)[-2:] != (NUM_JOINTS, 4):
        raise ValueError(f"expected [T, P, 22, 3] and [T, P, 22, 4], got {np.shape(positions)} and {np.shape(rotations)}")
    frame = canonical_frame(positions, shared_floor)
    canon_pos, canon_rot = frame.apply(positions, rotations)
    return canon_pos.astype(np.float32), canon_rot.astype(np.float32), frame


def canonicalise_clip(clip: Clip, shared_floor: bool = False) -> Clip:
    """A canonicalised copy of a clip, with contacts re-detected on the new floor."""
    positions, rotations, _ = canonicalise(clip.positions, clip.rotations, shared_floor)
    contacts = np.moveaxis(detect_contacts(np.moveaxis(positions, 1, 0)), 0, 1)
    return Clip(positions, rotations, contacts, clip.fps, dict(clip.meta))
