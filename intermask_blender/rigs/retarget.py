"""Retarget a 22-joint clip onto any mapped armature: pose-bone quaternions for every frame at once.

The pose itself comes from THE solver the rigid fit uses too (``motion/solver.py``: swing from the
clip's joints, twist from its rotations, two-bone knees and elbows, the pelvis turned with its hips), run
in Blender's world on the armature's rest pose. Goals are the clip's joints scaled by leg length (see
:mod:`rig_rest`) with planted feet pinned (``contacts.pin_feet``: a no-op where the clip already holds
them still). This module adds what only an armature has: which bones to key, root motion on the bone
that carries it, and the conversion of world rotations into pose-bone local transforms by the usual
rest-matrix conjugation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..seam import clip_file as clipmod
from ..seam import contacts, skeleton, solver
from ..seam import rotations as rot
from .bonemap import ROOT
from .rig_rest import Placement, RigRest

J = skeleton.JOINT_INDEX
PARENTS = skeleton.PARENTS
CHILDREN = solver.CHILDREN
PRIMARY_CHILD = solver.PRIMARY_CHILD
pin_feet = contacts.pin_feet


def clip_world_rotations(local: np.ndarray) -> np.ndarray:
    """Local joint quaternions [T,22,4] (model space) → world rotation matrices [T,22,3,3] in Blender axes."""
    return solver.world_rotations(local, solver.BLENDER_AXES)


def clip_local_rotations(world: np.ndarray) -> np.ndarray:
    """Inverse of :func:`clip_world_rotations`: Blender-axes world matrices → local model quaternions."""
    return solver.local_rotations(world, solver.BLENDER_AXES)


@dataclass
class SolvedPose:
    """Pose-bone channels for every frame, plus where the solver put every bone head (world)."""

    bone_names: list[str]
    quaternions: np.ndarray  # [T, B, 4] pose-bone local (w, x, y, z), sign-continuous over time
    locations: np.ndarray  # [T, B, 3] pose-bone local translations (zero where the head follows its parent)
    moves: np.ndarray  # [B] bool: bones whose location is keyed (root motion)
    keyed: np.ndarray  # [B] bool: bones to key (not the unmapped ones that constraints pose)
    heads: np.ndarray  # [T, B, 3] world heads


def rig_skeleton(rig: RigRest) -> solver.Skeleton:
    """The armature's rest pose as the solver sees it: world rest rotations and heads, joints by index."""
    orient, heads = rig.rest_world()
    joints = {J[j]: b for j, b in rig.joints.items() if j != ROOT}
    return solver.Skeleton(rig.parents, orient, heads, joints, rig.joints.get(ROOT), rig.follows,
                           rig.pelvis_offset * rig.object_scale)


class Retargeter:
    """The solver on one rig's rest pose, reused for every frame, for baking and for reading back."""

    def __init__(self, rig: RigRest) -> None:
        self.rig = rig
        self.solver = solver.PoseSolver(rig_skeleton(rig), solver.BLENDER_AXES)
        self.mapped = self.solver.mapped

    def solve(self, goals: np.ndarray, world_rot: np.ndarray) -> SolvedPose:
        """Pose for world-space joint goals [T,22,3] and clip world rotations [T,22,3,3] (Blender axes)."""
        rig = self.rig
        pose = self.solver.solve(goals, world_rot)
        bone_joint = {b: j for j, b in rig.joints.items()}
        keyed = np.array([b in bone_joint or not rig.constrained[b] for b in range(len(rig.bone_names))])
        moves = keyed & np.array([bone_joint.get(b) in ("pelvis", ROOT) or self._above_pelvis(b) for b in range(len(rig.bone_names))])
        quats, locs = self._to_pose_space(pose.orient, pose.heads, moves)
        return SolvedPose(rig.bone_names, quats, locs, moves, keyed, pose.heads)

    def clip_rotations(self, orient: np.ndarray) -> np.ndarray:
        """Clip world rotations [T,22,3,3] (Blender axes) that would pose the mapped bones as ``orient``."""
        return self.solver.clip_rotations(orient)

    def _above_pelvis(self, b: int) -> bool:
        pelvis = self.rig.joints["pelvis"]
        p = self.rig.parents[pelvis]
        while p >= 0:
            if p == b:
                return True
            p = self.rig.parents[p]
        return False

    def _to_pose_space(self, orient: np.ndarray, heads: np.ndarray, moves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World rotations/heads → pose-bone basis quaternions and locations (rest-matrix conjugation).

        ``pose_b = pose_parent · (rest_parent⁻¹ · rest_b) · basis_b`` in armature space; every matrix
        here is rigid, so inverses are transposes. Locations are solved for the ``moves`` bones only:
        every other head was placed rigidly on its parent, so its location is zero.
        """
        rig = self.rig
        world_inv = np.linalg.inv(rig.world)
        rot_arm = rig.object_rotation.T @ orient
        head_arm = heads @ world_inv[:3, :3].T + world_inv[:3, 3]
        rest_rot, rest_head = rig.rest[:, :3, :3], rig.rest[:, :3, 3]
        top = rig.parents < 0
        parent = np.where(top, 0, rig.parents)
        # a bone without a parent sits in an identity "parent" at the origin
        parent_rot, parent_head = rest_rot[parent], rest_head[parent]
        parent_rot[top], parent_head[top] = np.eye(3), 0.0
        local_rot = np.swapaxes(parent_rot, -1, -2) @ rest_rot  # [B,3,3] rest of b in its parent
        local_head = np.einsum("bji,bj->bi", parent_rot, rest_head - parent_head)
        pose_parent_rot, pose_parent_head = rot_arm[:, parent], head_arm[:, parent]
        pose_parent_rot[:, top], pose_parent_head[:, top] = np.eye(3), 0.0
        # contiguous transposes: numpy multiplies transposed views of 3×3 stacks three times slower
        to_local = np.ascontiguousarray(np.swapaxes(pose_parent_rot @ local_rot, -1, -2))
        basis_rot = to_local @ rot_arm
        basis_loc = np.zeros(heads.shape)
        offset = (head_arm[:, moves] - pose_parent_head[:, moves])[..., None, :]
        basis_loc[:, moves] = (((offset @ pose_parent_rot[:, moves])[..., 0, :] - local_head[moves])[..., None, :] @ local_rot[moves])[..., 0, :]
        quats = rot.matrix_to_quat(basis_rot)
        flips = np.cumsum(np.sum(quats[1:] * quats[:-1], axis=-1) < 0, axis=0) % 2 == 1
        quats[1:] = np.where(flips[..., None], -quats[1:], quats[1:])
        return quats, basis_loc


def retarget(clip: clipmod.Clip, rig: RigRest, placement: Placement) -> SolvedPose:
    """Solve one person's clip (P = 1) onto ``rig`` at ``placement``, planted feet pinned."""
    goals = pin_feet(placement.to_world(clip.positions[:, 0]), clip.contacts[:, 0], float(clip.fps))
    return Retargeter(rig).solve(goals, clip_world_rotations(clip.rotations[:, 0]))
