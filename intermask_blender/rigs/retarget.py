"""Retarget a 22-joint clip onto any mapped armature: pose-bone quaternions for every frame at once.

The pose itself comes from THE solver the rigid fit uses too (``motion/solver.py``), run in Blender's world
on the armature's rest pose and following the clip's limb directions, so a rig of any proportions, rest
pose and bone roll moves as the clip does: the hips on the clip's hips scaled by leg length (see
:mod:`rig_rest`), every bone along the clip's direction from its joint to the next, and a limb reaching
only where contact matters: a planted foot on the rig's floor (``contacts.pin_feet``) and a hand on the
partner (``contacts.hand_contacts``, on the partner's own retargeted body). This module adds what only an
armature has: which bones to key, root motion on the bone that carries it, detached IK-style ends and
joints at a bone's tail, and the conversion of world rotations into pose-bone local transforms by the
usual rest-matrix conjugation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..seam import clip_file as clipmod
from ..seam import contacts, skeleton, solver, two_bone
from ..seam import rotations as rot
from .bonemap import ROOT
from .rig_rest import Placement, RigRest

J = skeleton.JOINT_INDEX
PARENTS = skeleton.PARENTS
CHILDREN = solver.CHILDREN
PRIMARY_CHILD = solver.PRIMARY_CHILD
pin_feet = contacts.pin_feet
#: (contact channel, ankle joint) of each foot, and the two wrists.
FEET = ((0, J["left_ankle"]), (2, J["right_ankle"]))
WRISTS = (J["left_wrist"], J["right_wrist"])
#: A planted foot whose pin lies this many leg lengths from where its free leg has it is sliding, not
#: held in place (the hold fades out over as much again; the foot stays on the floor).
SLIDE_LIMIT = 0.06


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
    joints: np.ndarray  # [T, 22, 3] world joints as posed (the goals where the rig has no bone for one)


def rig_skeleton(rig: RigRest) -> solver.Skeleton:
    """The armature's rest pose as the solver sees it: world rest rotations and heads, joints by index.

    A joint at a bone's tail (a rig without hand bones) becomes one more bone, at that tail, that the
    solver poses like any other and the retarget never keys.
    """
    orient, heads = rig.rest_world()
    joints = {J[j]: b for j, b in rig.joints.items() if j != ROOT}
    ends = np.array(list(rig.tail_joints.values()), dtype=np.int64)
    joints.update({J[j]: len(rig.parents) + i for i, j in enumerate(rig.tail_joints)})
    none = np.full(len(ends), -1, dtype=np.int64)
    return solver.Skeleton(np.concatenate([rig.parents, ends]), np.concatenate([orient, orient[ends]]),
                           np.concatenate([heads, rig.to_world(rig.tails[ends])]), joints, rig.joints.get(ROOT),
                           np.concatenate([rig.follows, none]), rig.pelvis_offset * rig.object_scale,
                           np.concatenate([rig.carriers, none]))


class Retargeter:
    """The solver on one rig's rest pose, reused for every frame, for baking and for reading back."""

    def __init__(self, rig: RigRest) -> None:
        self.rig = rig
        self.solver = solver.PoseSolver(rig_skeleton(rig), solver.BLENDER_AXES)
        self.mapped = self.solver.mapped

    def solve(self, goals: np.ndarray, world_rot: np.ndarray, reaching: dict[int, two_bone.Reach] | None = None) -> SolvedPose:
        """Pose for world-space joint goals [T,22,3] and clip world rotations [T,22,3,3] (Blender axes);
        ``reaching``: end joint → what its limb reaches for (see :meth:`solver.PoseSolver.solve`)."""
        rig = self.rig
        count = len(rig.bone_names)
        pose = self.solver.solve(goals, world_rot, reaching)
        joints = goals.copy()
        for j, b in self.mapped.items():
            joints[:, j] = pose.heads[:, b]
        pelvis = self.mapped[J["pelvis"]]
        joints[:, J["pelvis"]] += self.solver.pivot(pose.orient[:, pelvis])
        orient, heads = pose.orient[:, :count], pose.heads[:, :count]  # without the bones at tails
        bone_joint = {b: j for j, b in rig.joints.items()}
        keyed = np.array([b in bone_joint or not rig.constrained[b] for b in range(count)])
        carried = (rig.carriers >= 0) & (rig.carriers != rig.parents)  # heads not where their parents put them
        moves = keyed & (carried | np.array([bone_joint.get(b) in ("pelvis", ROOT) or self._above_pelvis(b) for b in range(count)]))
        quats, locs = self._to_pose_space(orient, heads, moves)
        return SolvedPose(rig.bone_names, quats, locs, moves, keyed, heads, joints)

    def with_tail_joints(self, heads: np.ndarray, tails: np.ndarray, orient: np.ndarray) -> tuple[np.ndarray, ...]:
        """Posed heads, tails [T,B,3] and rotations [T,B,3,3] of the rig's bones, extended by the solver's
        bones at tails (a joint at a bone's tail sits there and turns with that bone)."""
        ends = list(self.rig.tail_joints.values())
        return (np.concatenate([heads, tails[:, ends]], axis=1), np.concatenate([tails, tails[:, ends]], axis=1),
                np.concatenate([orient, orient[:, ends]], axis=1))

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
        to_arm = rig.world[:3, :3].T / rig.object_scale**2  # the inverse of a uniformly scaled rotation
        rot_arm = rig.object_rotation.T @ orient
        head_arm = (heads - rig.world[:3, 3]) @ to_arm.T
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


def standing_height(retargeter: Retargeter, ankle: int) -> float:
    """World z of the ankle joint of a foot standing on the rig's floor (its rest height on that floor)."""
    return float(retargeter.solver.rest_joints[retargeter.mapped[ankle], 2] + retargeter.rig.floor_shift)


def _down_to_planted_feet(retargeter: Retargeter, goals: np.ndarray, turns: np.ndarray,
                          feet: dict[int, two_bone.Reach], pose: SolvedPose) -> tuple[np.ndarray, SolvedPose]:
    """Where a planted leg cannot reach the floor from the clip's hips (it stretches towards it and falls
    short), the whole body comes down by what that foot misses, in those frames, and is solved again."""
    miss = np.zeros(len(goals))
    for ankle, held in feet.items():
        short = pose.joints[:, ankle, 2] - standing_height(retargeter, ankle)
        miss = np.maximum(miss, np.asarray(held.weight) * np.maximum(short, 0.0))
    if miss.max() < 1e-4:  # a metre-scale rig's tenth of a millimetre: every foot reached its floor
        return goals, pose
    lowered = goals.copy()
    lowered[..., 2] -= miss[:, None]
    return lowered, retargeter.solve(lowered, turns, feet)


def feet_on_the_floor(contacts_: np.ndarray, fps: float, retargeter: Retargeter) -> dict[int, two_bone.Reach]:
    """Each planted ankle reaches for the height it stands at on the rig's floor, and for where the rig's own
    leg, following the clip's directions, has it on average over the contact (the clip's foot pin, on the
    rig's proportions), easing in and out; a leg that cannot reach stretches towards it. A contact the
    foot slides through (its pin more than :data:`SLIDE_LIMIT` leg lengths away) keeps the foot on the
    floor but lets it slide."""
    legs = retargeter.rig.leg_length()
    out = {}
    for channel, ankle in FEET:
        flags = contacts_[:, channel]
        floor = standing_height(retargeter, ankle)

        def hold(free: np.ndarray, flags: np.ndarray = flags, floor: float = floor) -> np.ndarray:
            pinned = contacts.hold_still(free, flags, fps)
            slide = np.linalg.norm((pinned - free)[:, :2], axis=-1) / legs
            target = free + np.clip(2.0 - slide / SLIDE_LIMIT, 0.0, 1.0)[:, None] * (pinned - free)
            target[:, 2] = floor
            return target

        out[ankle] = two_bone.Reach(None, contacts.contact_weights(flags, fps), False, hold=hold)
    return out


def retarget_people(clip: clipmod.Clip, rigs: list[RigRest], placements: list[Placement]) -> list[SolvedPose]:
    """Solve each person of ``clip`` onto its rig: planted feet on the floor, then, for two people, each hand
    that touches the partner in the clip onto the partner's retargeted body (the first person's hands on
    the second's pose, the second's on the first's as it then is, so hand in hand meets)."""
    fps = float(clip.fps)
    people = range(clip.num_people)
    goals = [placements[p].to_world(clip.positions[:, p]) for p in people]
    turns = [clip_world_rotations(clip.rotations[:, p]) for p in people]
    solvers = [Retargeter(rig) for rig in rigs]
    feet = [feet_on_the_floor(clip.contacts[:, p], fps, solvers[p]) for p in people]
    poses = [solvers[p].solve(goals[p], turns[p], feet[p]) for p in people]
    for p in people:
        goals[p], poses[p] = _down_to_planted_feet(solvers[p], goals[p], turns[p], feet[p], poses[p])
    if clip.num_people != 2:
        return poses
    model = clip.positions.astype(np.float64)
    for p, partner in ((0, 1), (1, 0)):
        reaching = dict(feet[p])
        for wrist, touch in zip(WRISTS, contacts.hand_contacts(model[:, p], model[:, partner], WRISTS)):
            if touch.touching.any():
                offset = placements[p].scale * skeleton.model_to_blender(touch.offset)
                reaching[wrist] = two_bone.Reach(touch.target(poses[partner].joints) + offset,
                                                 contacts.contact_weights(touch.touching, fps))
        if len(reaching) > len(feet[p]):
            poses[p] = solvers[p].solve(goals[p], turns[p], reaching)
    return poses


def retarget(clip: clipmod.Clip, rig: RigRest, placement: Placement) -> SolvedPose:
    """Solve one person's clip (P = 1) onto ``rig`` at ``placement``, planted feet on the floor."""
    return retarget_people(clip, [rig], [placement])[0]
