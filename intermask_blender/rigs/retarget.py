"""Retarget a 22-joint clip onto any mapped armature: pose-bone quaternions for every frame at once.

Nothing assumes the rig's rest pose. For each mapped bone we measure, in the rest pose, the direction
from its head to the head of the bone playing its child joint, and the rotation ``A`` that carries it
onto the clip's rest direction (the clip's T-pose, ``skeleton.REST_DIRECTIONS``, with the rig's own
facing taken out first). Per frame the bone's world rotation is then ``S · W_j · A`` — ``W_j`` is the
clip's world rotation of joint j (it supplies the twist) and ``S`` the smallest swing that makes the
bone point exactly at its goal (it supplies the direction). Goals are the clip's joints scaled by leg
length (see :mod:`rig`), except knees and elbows, which come from a two-bone solve so that ankles and
wrists land on their goals whatever the rig's proportions; planted feet are pinned. World rotations
become pose-bone local transforms by the usual rest-matrix conjugation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..seam import clip_file as clipmod
from ..seam import rotations as rot
from ..seam import skeleton
from .bonemap import ROOT
from .rig_rest import Placement, RigRest

J = skeleton.JOINT_INDEX
PARENTS = skeleton.PARENTS
CHILDREN: dict[int, list[int]] = {j: [c for c, p in enumerate(PARENTS) if p == j] for j in range(skeleton.NUM_JOINTS)}
#: Where a joint has several children, the one its bone points at (pelvis → spine, chest → neck).
PRIMARY_CHILD = {J["pelvis"]: J["spine1"], J["spine3"]: J["neck"]}
#: (upper, middle, end) joints solved as two-bone chains.
LIMBS = tuple(
    (J[f"{side}_{a}"], J[f"{side}_{b}"], J[f"{side}_{c}"])
    for side in ("left", "right")
    for a, b, c in (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist"))
)
_KNEES = (J["left_knee"], J["right_knee"])
_M = skeleton.model_to_blender_matrix()


#: ``a @ _SKEW`` is the cross-product matrix [a]× flattened row-major; _IDENTITY is I flattened.
_SKEW = np.zeros((3, 9))
_SKEW[2, 1], _SKEW[1, 2], _SKEW[2, 3], _SKEW[0, 5], _SKEW[1, 6], _SKEW[0, 7] = -1, 1, 1, -1, -1, 1
_IDENTITY = np.eye(3).ravel()


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.sqrt(np.einsum("...i,...i->...", v, v)), 1e-12)[..., None]


def _apply(stack: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``stack @ m`` for a stack of 3×3 matrices [...,3,3] and one fixed 3×3 matrix or 3-vector, as a
    single BLAS product (numpy's batched matmul is several times slower for this shape)."""
    flat = stack.reshape(-1, 3) @ m
    return flat.reshape(stack.shape[:-1] + m.shape[1:])


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.cross`` for (..., 3) arrays without its axis bookkeeping (this is the solver's hot loop)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def _swing(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotation matrices of the shortest turn carrying directions u onto v.

    ``R = c·I + [a]× + a aᵀ / (1 + c)`` with ``a = u × v``, ``c = u · v`` (Rodrigues for unit vectors);
    a few array operations per bone for all frames at once.
    """
    u, v = _unit(np.asarray(u, dtype=np.float64)), _unit(np.asarray(v, dtype=np.float64))
    axis = _cross(u, v)
    cos = np.einsum("...i,...i->...", u, v)
    if np.any(cos < -0.999999):  # opposite directions: any half-turn perpendicular to u
        return rot.quat_to_matrix(rot.quat_between(*np.broadcast_arrays(u, v)))
    out = axis[..., :, None] * (axis / (1.0 + cos)[..., None])[..., None, :]
    out += (axis @ _SKEW + cos[..., None] * _IDENTITY).reshape(out.shape)
    return out


def _frame(across: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Orthonormal frames (columns x = across, z = up made perpendicular, y = z × x)."""
    x = _unit(across)
    z = _unit(up - np.sum(up * x, axis=-1, keepdims=True) * x)
    return np.stack([x, _cross(z, x), z], axis=-1)


def clip_world_rotations(local: np.ndarray) -> np.ndarray:
    """Local joint quaternions [T,22,4] (model space) → world rotation matrices [T,22,3,3] in Blender axes.

    The change of axes is a proper rotation ``M``, so ``M · R(q) · Mᵀ`` is the rotation of ``q`` with its
    vector part turned by ``M``: the quaternions change axes before they become matrices.
    """
    local = np.asarray(local, dtype=np.float64)
    world = rot.quat_to_matrix(np.concatenate([local[..., :1], local[..., 1:] @ _M.T], axis=-1))
    for j, p in enumerate(PARENTS):
        if p >= 0:
            world[:, j] = world[:, p] @ world[:, j]
    return world


def clip_local_rotations(world: np.ndarray) -> np.ndarray:
    """Inverse of :func:`clip_world_rotations`: Blender-axes world matrices → local model quaternions."""
    return rot.local_from_world(rot.matrix_to_quat(_M.T @ world @ _M), PARENTS)


def pin_feet(goals: np.ndarray, contacts: np.ndarray, fps: float) -> np.ndarray:
    """Hold each planted ankle/toe at its mean position over the contact, easing in and out over 0.1 s."""
    out = goals.copy()
    frames = np.arange(goals.shape[0])
    ramp = max(1, int(round(0.1 * fps)))
    for channel, joint in enumerate(skeleton.CONTACT_JOINTS):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], contacts[:, channel].astype(int), [0]])))
        for start, end in zip(edges[0::2], edges[1::2]):
            held = goals[start:end, joint].mean(axis=0)
            outside = np.maximum(np.maximum(start - frames, frames - (end - 1)), 0)
            weight = np.clip(1.0 - outside / (ramp + 1.0), 0.0, 1.0)[:, None]
            out[:, joint] += weight * (held - out[:, joint])
    return out


@dataclass
class SolvedPose:
    """Pose-bone channels for every frame, plus where the solver put every bone head (world)."""

    bone_names: list[str]
    quaternions: np.ndarray  # [T, B, 4] pose-bone local (w, x, y, z), sign-continuous over time
    locations: np.ndarray  # [T, B, 3] pose-bone local translations (zero where the head follows its parent)
    moves: np.ndarray  # [B] bool: bones whose location is keyed (root motion)
    keyed: np.ndarray  # [B] bool: bones to key (not the unmapped ones that constraints pose)
    heads: np.ndarray  # [T, B, 3] world heads


class Retargeter:
    """Rest-pose measurements of one rig, reused for every frame, for baking and for reading back."""

    def __init__(self, rig: RigRest) -> None:
        self.rig = rig
        self.rest_orient, self.rest_heads = rig.rest_world()
        self.mapped = {J[j]: b for j, b in rig.joints.items() if j != ROOT}
        self.spine_joint = next(J[j] for j in ("spine1", "spine2", "spine3", "neck", "head") if J[j] in self.mapped)
        pelvis = self.mapped[J["pelvis"]]
        heads = self.rest_joints = self.rest_heads.copy()  # where each mapped bone's joint is, at rest
        heads[pelvis] += rig.pelvis_pivot(self.rest_orient[pelvis])
        rest_frame = _frame(
            heads[self.mapped[J["left_hip"]]] - heads[self.mapped[J["right_hip"]]],
            heads[self.mapped[self.spine_joint]] - heads[self.mapped[J["pelvis"]]],
        )
        self.rest_frame = rest_frame
        facing = rest_frame.T  # the rig's rest facing → the clip's (left = +X, up = +Z)
        self.align: dict[int, np.ndarray] = {}
        self.aim: dict[int, tuple[int, np.ndarray]] = {}  # joint → (goal joint, rest direction to it)
        for j in sorted(self.mapped):  # parents have lower indices, so a leaf finds its parent's alignment
            if j == J["pelvis"]:
                continue
            target = self._aim_target(j)
            if target is None:
                parent = self._mapped_parent(j)
                self.align[j] = self.align.get(parent, facing)
                continue
            goal, first_link = target
            u = _unit(heads[self.mapped[goal]] - heads[self.mapped[j]])
            d = _M @ skeleton.REST_DIRECTIONS[first_link].astype(np.float64)
            self.align[j] = _swing(facing @ u, d) @ facing
            self.aim[j] = (goal, u)
        # per frame, bone b playing joint j turns as S · W_j · (A_j · rest_b), aiming W_j · (A_j · u) at its goal
        self.turn = {j: self.align[j] @ self.rest_orient[b] for j, b in self.mapped.items() if j in self.align}
        self.pointer = {j: self.align[j] @ u for j, (_, u) in self.aim.items()}
        # each bone's rest head and rest orientation in its parent's rest frame
        parents = np.maximum(rig.parents, 0)
        parent_inv = np.swapaxes(self.rest_orient[parents], -1, -2)
        self.rest_offsets = (parent_inv @ (self.rest_heads - self.rest_heads[parents])[:, :, None])[..., 0]
        self.rest_in_parent = parent_inv @ self.rest_orient

    def _aim_target(self, j: int) -> tuple[int, int] | None:
        """The nearest mapped joint below j along its primary chain, and the first link towards it."""
        k, first = j, None
        while CHILDREN[k]:
            k = PRIMARY_CHILD.get(k, CHILDREN[k][0])
            first = k if first is None else first
            if k in self.mapped:
                return k, first
        return None

    def _mapped_parent(self, j: int) -> int:
        p = PARENTS[j]
        while p >= 0 and p not in self.mapped:
            p = PARENTS[p]
        return p

    def _limb_knee(self, upper: int, middle: int, end: int, base: np.ndarray, goals: np.ndarray, upper_rot: np.ndarray) -> np.ndarray:
        """Two-bone solve: where the knee/elbow goes so the ankle/wrist reaches its goal from ``base``.

        The bend plane is the clip's (through its knee/elbow); where the clip's limb is straight, the
        clip's upper-joint rotation says which way is forward (knees bend forward, elbows back).
        """
        h = self.rest_joints
        l1 = np.linalg.norm(h[self.mapped[middle]] - h[self.mapped[upper]])
        l2 = np.linalg.norm(h[self.mapped[end]] - h[self.mapped[middle]])
        to_end = goals[:, end] - base
        dist = np.clip(np.linalg.norm(to_end, axis=-1), abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
        e = _unit(to_end)
        natural = _apply(upper_rot, _M @ np.array([0.0, 0.0, 1.0 if middle in _KNEES else -1.0]))
        bend = goals[:, middle] - base + 1e-3 * natural
        bend = bend - np.sum(bend * e, axis=-1, keepdims=True) * e
        cos_a = np.clip((l1 * l1 + dist * dist - l2 * l2) / (2 * l1 * dist), -1.0, 1.0)[:, None]
        return base + e * (l1 * cos_a) + _unit(bend) * (l1 * np.sqrt(1.0 - cos_a * cos_a))

    def solve(self, goals: np.ndarray, world_rot: np.ndarray) -> SolvedPose:
        """Pose for world-space joint goals [T,22,3] and clip world rotations [T,22,3,3] (Blender axes)."""
        rig, count = self.rig, goals.shape[0]
        goals = goals.copy()
        names = rig.bone_names
        bone_joint = {b: j for j, b in rig.joints.items()}
        limbs = {u: (u, m, e) for u, m, e in LIMBS if all(k in self.mapped for k in (u, m, e))}
        orient = np.empty((count, len(names), 3, 3))
        heads = np.empty((count, len(names), 3))
        for b, parent in enumerate(rig.parents):
            joint = bone_joint.get(b)
            if parent >= 0:
                heads[:, b] = heads[:, parent] + _apply(orient[:, parent], self.rest_offsets[b])
                if joint in (None, ROOT):  # unmapped bones keep their rest pose relative to the parent
                    orient[:, b] = _apply(orient[:, parent], self.rest_in_parent[b])
            else:
                orient[:, b], heads[:, b] = self.rest_orient[b], self.rest_heads[b]
            if rig.follows[b] >= 0:  # a constraint copies another bone's world transform
                orient[:, b], heads[:, b] = orient[:, rig.follows[b]], heads[:, rig.follows[b]]
            if joint == ROOT:
                shift = goals[:, J["pelvis"]] - self.rest_joints[self.mapped[J["pelvis"]]]
                heads[:, b] = self.rest_heads[b] + shift * np.array([1.0, 1.0, 0.0])
            elif joint == "pelvis":
                frame = _frame(goals[:, J["left_hip"]] - goals[:, J["right_hip"]], goals[:, self.spine_joint] - goals[:, J["pelvis"]])
                orient[:, b] = _apply(frame, self.rest_frame.T @ self.rest_orient[b])
                heads[:, b] = goals[:, J["pelvis"]] - rig.pelvis_pivot(orient[:, b])
            elif joint is not None:
                j = J[joint]
                if j in limbs:
                    goals[:, limbs[j][1]] = self._limb_knee(*limbs[j], heads[:, b], goals, world_rot[:, j])
                orient[:, b] = _apply(world_rot[:, j], self.turn[j])
                if j in self.aim:
                    pointing = _apply(world_rot[:, j], self.pointer[j])
                    orient[:, b] = _swing(pointing, goals[:, self.aim[j][0]] - heads[:, b]) @ orient[:, b]
        keyed = np.array([b in bone_joint or not rig.constrained[b] for b in range(len(names))])
        moves = keyed & np.array([bone_joint.get(b) in ("pelvis", ROOT) or self._above_pelvis(b) for b in range(len(names))])
        quats, locs = self._to_pose_space(orient, heads, moves)
        return SolvedPose(names, quats, locs, moves, keyed, heads)

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

    def clip_rotations(self, orient: np.ndarray) -> np.ndarray:
        """Clip world rotations [T,22,3,3] (Blender axes) that would pose the mapped bones as ``orient``.

        The inverse of :meth:`solve` for twist: ``W_j = O_b · (A_j · rest_b)ᵀ``; unmapped joints follow
        their parent, and the pelvis uses its hip/spine frame.
        """
        world = np.empty((orient.shape[0], skeleton.NUM_JOINTS, 3, 3))
        for j in range(skeleton.NUM_JOINTS):
            b = self.mapped.get(j)
            if j == J["pelvis"]:
                world[:, j] = orient[:, b] @ self.rest_orient[b].T @ self.rest_frame
            elif b is None:
                world[:, j] = world[:, PARENTS[j]]
            else:
                world[:, j] = orient[:, b] @ self.turn[j].T
        return world


def retarget(clip: clipmod.Clip, rig: RigRest, placement: Placement) -> SolvedPose:
    """Solve one person's clip (P = 1) onto ``rig`` at ``placement``, planted feet pinned."""
    goals = pin_feet(placement.to_world(clip.positions[:, 0]), clip.contacts[:, 0], float(clip.fps))
    return Retargeter(rig).solve(goals, clip_world_rotations(clip.rotations[:, 0]))
