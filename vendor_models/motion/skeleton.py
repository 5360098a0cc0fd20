"""The 22-joint SMPL body skeleton shared by both halves (numpy only).

Joint order, names and parents are InterHuman's / HumanML3D's, so a clip made here lines up with their
262-D features. Model space is Y-up, metres, 30 fps; Blender is Z-up, and the one place that converts
between the two is :func:`model_to_blender` / :func:`blender_to_model`.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}
PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

#: HumanML3D's kinematic chains (right leg, left leg, spine, right arm, left arm).
KINEMATIC_CHAIN: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21), (9, 13, 16, 18, 20),
)

#: Unit direction of each joint from its parent in the rest pose: SMPL's T-pose facing +Z, Y-up, left = +X.
#: Local rotations (clip files, the 6D block of the 262-D feature) are relative to this pose, which is what
#: makes them agree with InterHuman's SMPL rotations. Legs, spine and feet follow HumanML3D's
#: ``t2m_raw_offsets``; unlike those, the arms point sideways (SMPL's rest is a T-pose, not arms-down) and
#: the collars rise from spine3 the way SMPL's do.
_COLLAR = (0.55, 0.835, 0.0)
REST_DIRECTIONS = np.array(
    [[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
     [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], _COLLAR, (-_COLLAR[0], *_COLLAR[1:]), [0, 0, 1],
     [1, 0, 0], [-1, 0, 0], [1, 0, 0], [-1, 0, 0], [1, 0, 0], [-1, 0, 0]],
    dtype=np.float32,
)
REST_DIRECTIONS /= np.maximum(np.linalg.norm(REST_DIRECTIONS, axis=1, keepdims=True), 1e-12)

#: (left, right) joint pairs, for mirroring.
LEFT_RIGHT_PAIRS: tuple[tuple[int, int], ...] = ((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21))
MIRROR_PERMUTATION: tuple[int, ...] = tuple(
    next((r if j == l else l for l, r in LEFT_RIGHT_PAIRS if j in (l, r)), j) for j in range(NUM_JOINTS)
)

#: Joints that define facing: right hip, left hip, right shoulder, left shoulder.
FACE_JOINTS: tuple[int, int, int, int] = (2, 1, 17, 16)
LEFT_FOOT_JOINTS: tuple[int, int] = (7, 10)
RIGHT_FOOT_JOINTS: tuple[int, int] = (8, 11)
#: Order of the four foot-contact channels: left ankle, left toe, right ankle, right toe.
CONTACT_JOINTS: tuple[int, int, int, int] = (7, 10, 8, 11)

FPS = 30

# Model (x, y, z) → Blender (x, -z, y): Y-up becomes Z-up, and a character facing +Z in model space faces
# Blender's -Y, i.e. it looks at the camera of Blender's Front view.
_MODEL_TO_BLENDER = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], dtype=np.float64)


def model_to_blender(points: np.ndarray) -> np.ndarray:
    """Map Y-up model-space vectors (..., 3) to Blender's Z-up frame."""
    return (np.asarray(points, dtype=np.float64) @ _MODEL_TO_BLENDER.T).astype(np.asarray(points).dtype, copy=False)


def blender_to_model(points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`model_to_blender`."""
    return (np.asarray(points, dtype=np.float64) @ _MODEL_TO_BLENDER).astype(np.asarray(points).dtype, copy=False)


def model_to_blender_matrix() -> np.ndarray:
    """The 3×3 rotation used by :func:`model_to_blender` (for rotating orientations, not only points)."""
    return _MODEL_TO_BLENDER.copy()


def bone_lengths(positions: np.ndarray) -> np.ndarray:
    """Per-frame bone lengths (..., 21) of joints 1..21 to their parents."""
    parents = np.array(PARENTS[1:])
    return np.linalg.norm(positions[..., 1:, :] - positions[..., parents, :], axis=-1)
