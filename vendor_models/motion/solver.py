"""THE pose solver: a 22-joint motion onto any skeleton, every frame at once (numpy only).

Both halves pose bodies with it, so the clip and the keyframes come from the same arithmetic: the rigid
fit (:mod:`rigid_fit`) poses each generated person's own skeleton in model space, and the add-on's
retarget (``intermask_blender/rigs/retarget.py``) poses an armature in Blender's world.

Nothing assumes the skeleton's rest pose. For each bone that plays a joint we measure, in the rest pose,
the direction from its head to the head of the bone playing its child joint, and the rotation ``A`` that
carries it onto the clip's rest direction (``skeleton.REST_DIRECTIONS``, with the skeleton's own facing
taken out first). Per frame the bone's world rotation is then ``S · W_j · A`` — ``W_j`` is the clip's
world rotation of joint j (it supplies the twist) and ``S`` the smallest swing that makes the bone point
exactly at its goal (it supplies the direction). Knees and elbows come from a two-bone solve, so ankles
and wrists land on their goals whatever the skeleton's proportions; the pelvis turns with the frame of
its hips and spine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import rotations as rot
from . import skeleton

J = skeleton.JOINT_INDEX
PARENTS = skeleton.PARENTS
PELVIS = J["pelvis"]
CHILDREN: dict[int, list[int]] = {j: [c for c, p in enumerate(PARENTS) if p == j] for j in range(skeleton.NUM_JOINTS)}
#: Where a joint has several children, the one its bone points at (pelvis → spine, chest → neck).
PRIMARY_CHILD = {J["pelvis"]: J["spine1"], J["spine3"]: J["neck"]}
#: (upper, middle, end) joints solved as two-bone chains.
LIMBS = tuple(
    (J[f"{side}_{a}"], J[f"{side}_{b}"], J[f"{side}_{c}"])
    for side in ("left", "right")
    for a, b, c in (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist"))
)
KNEES = (J["left_knee"], J["right_knee"])
#: Model axes → Blender axes (Blender's world); the identity is model space itself.
BLENDER_AXES = skeleton.model_to_blender_matrix()
MODEL_AXES = np.eye(3)

#: ``a @ _SKEW`` is the cross-product matrix [a]× flattened row-major; _IDENTITY is I flattened.
_SKEW = np.zeros((3, 9))
_SKEW[2, 1], _SKEW[1, 2], _SKEW[2, 3], _SKEW[0, 5], _SKEW[1, 6], _SKEW[0, 7] = -1, 1, 1, -1, -1, 1
_IDENTITY = np.eye(3).ravel()


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.sqrt(np.einsum("...i,...i->...", v, v)), 1e-12)[..., None]


def apply(stack: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``stack @ m`` for a stack of 3×3 matrices [...,3,3] and one fixed 3×3 matrix or 3-vector, as a
    single BLAS product (numpy's batched matmul is several times slower for this shape)."""
    flat = stack.reshape(-1, 3) @ m
    return flat.reshape(stack.shape[:-1] + m.shape[1:])


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.cross`` for (..., 3) arrays without its axis bookkeeping (this is the solver's hot loop)."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def swing(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotation matrices of the shortest turn carrying directions u onto v.

    ``R = c·I + [a]× + a aᵀ / (1 + c)`` with ``a = u × v``, ``c = u · v`` (Rodrigues for unit vectors);
    a few array operations per bone for all frames at once.
    """
    u, v = unit(np.asarray(u, dtype=np.float64)), unit(np.asarray(v, dtype=np.float64))
    axis = cross(u, v)
    cos = np.einsum("...i,...i->...", u, v)
    if np.any(cos < -0.999999):  # opposite directions: any half-turn perpendicular to u
        return rot.quat_to_matrix(rot.quat_between(*np.broadcast_arrays(u, v)))
    out = axis[..., :, None] * (axis / (1.0 + cos)[..., None])[..., None, :]
    out += (axis @ _SKEW + cos[..., None] * _IDENTITY).reshape(out.shape)
    return out


def frame(across: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Orthonormal frames (columns x = across, z = up made perpendicular, y = z × x)."""
    x = unit(across)
    z = unit(up - np.sum(up * x, axis=-1, keepdims=True) * x)
    return np.stack([x, cross(z, x), z], axis=-1)


def world_rotations(local: np.ndarray, axes: np.ndarray = MODEL_AXES) -> np.ndarray:
    """Local joint quaternions [T,22,4] (model space) → world rotation matrices [T,22,3,3] in ``axes``.

    A change of axes is a proper rotation ``M``, so ``M · R(q) · Mᵀ`` is the rotation of ``q`` with its
    vector part turned by ``M``: the quaternions change axes before they become matrices.
    """
    local = np.asarray(local, dtype=np.float64)
    world = rot.quat_to_matrix(np.concatenate([local[..., :1], local[..., 1:] @ axes.T], axis=-1))
    for j, p in enumerate(PARENTS):
        if p >= 0:
            world[:, j] = world[:, p] @ world[:, j]
    return world


def local_rotations(world: np.ndarray, axes: np.ndarray = MODEL_AXES) -> np.ndarray:
    """Inverse of :func:`world_rotations`: world matrices in ``axes`` → local model quaternions."""
    return rot.local_from_world(rot.matrix_to_quat(axes.T @ world @ axes), PARENTS)


@dataclass
class Skeleton:
    """The rest pose of whatever plays the 22 joints, parents first: an armature's bones, or a clip
    person's own skeleton (one bone per joint). All in the solver's world, without scale."""

    parents: np.ndarray  # [B] index of each bone's parent, -1 at the top
    rest_orient: np.ndarray  # [B, 3, 3] world rest rotations
    rest_heads: np.ndarray  # [B, 3] world rest heads
    joints: dict[int, int]  # joint index (0..21) → the bone playing it
    root: int | None = None  # a bone on the floor under the pelvis that carries the root motion
    follows: np.ndarray | None = None  # [B] bone whose world transform this one copies (a constraint), else -1
    pelvis_pivot: np.ndarray = field(default_factory=lambda: np.zeros(3))  # pelvis joint in the pelvis bone's frame

    @classmethod
    def of_joints(cls, rest_joints: np.ndarray) -> "Skeleton":
        """One bone per joint, heads at ``rest_joints`` [22, 3], rest rotations the identity: posed, its
        bone orientations are the joints' world rotations relative to this rest pose."""
        count = skeleton.NUM_JOINTS
        return cls(np.array(PARENTS), np.repeat(np.eye(3)[None], count, 0), np.asarray(rest_joints, dtype=np.float64),
                   {j: j for j in range(count)})


@dataclass
class Pose:
    """World rotations [T, B, 3, 3] and heads [T, B, 3] of every bone of a solved skeleton."""

    orient: np.ndarray
    heads: np.ndarray


class PoseSolver:
    """Rest-pose measurements of one skeleton, reused for every frame; ``axes`` says how the solver's world
    lies relative to model axes (identity: model space; :data:`BLENDER_AXES`: Blender's world)."""

    def __init__(self, rest: Skeleton, axes: np.ndarray = MODEL_AXES) -> None:
        self.skeleton, self.axes = rest, axes
        self.follows = rest.follows if rest.follows is not None else np.full(len(rest.parents), -1)
        self.rest_orient, self.rest_heads = rest.rest_orient, rest.rest_heads
        self.mapped = dict(rest.joints)
        self.bone_joint = {b: j for j, b in self.mapped.items()}
        self.spine_joint = next(J[j] for j in ("spine1", "spine2", "spine3", "neck", "head") if J[j] in self.mapped)
        pelvis = self.mapped[PELVIS]
        heads = self.rest_joints = self.rest_heads.copy()  # where each mapped bone's joint is, at rest
        heads[pelvis] += self.pivot(self.rest_orient[pelvis])
        rest_frame = frame(
            heads[self.mapped[J["left_hip"]]] - heads[self.mapped[J["right_hip"]]],
            heads[self.mapped[self.spine_joint]] - heads[self.mapped[PELVIS]],
        )
        self.rest_frame = rest_frame
        # the skeleton's rest facing → the clip's (left = +X, up = model +Y, in the solver's axes)
        facing = (rest_frame @ frame(axes[:, 0], axes[:, 1]).T).T  # a transposed view, as rest_frame.T is
        self.align: dict[int, np.ndarray] = {}
        self.aim: dict[int, tuple[int, np.ndarray]] = {}  # joint → (goal joint, rest direction to it)
        for j in sorted(self.mapped):  # parents have lower indices, so a leaf finds its parent's alignment
            if j == PELVIS:
                continue
            target = self._aim_target(j)
            if target is None:
                parent = self._mapped_parent(j)
                self.align[j] = self.align.get(parent, facing)
                continue
            goal, first_link = target
            u = unit(heads[self.mapped[goal]] - heads[self.mapped[j]])
            d = axes @ skeleton.REST_DIRECTIONS[first_link].astype(np.float64)
            self.align[j] = swing(facing @ u, d) @ facing
            self.aim[j] = (goal, u)
        # per frame, bone b playing joint j turns as S · W_j · (A_j · rest_b), aiming W_j · (A_j · u) at its goal
        self.turn = {j: self.align[j] @ self.rest_orient[b] for j, b in self.mapped.items() if j in self.align}
        self.pointer = {j: self.align[j] @ u for j, (_, u) in self.aim.items()}
        # each bone's rest head and rest orientation in its parent's rest frame
        parents = np.maximum(rest.parents, 0)
        parent_inv = np.swapaxes(self.rest_orient[parents], -1, -2)
        self.rest_offsets = (parent_inv @ (self.rest_heads - self.rest_heads[parents])[:, :, None])[..., 0]
        self.rest_in_parent = parent_inv @ self.rest_orient

    def pivot(self, orient: np.ndarray) -> np.ndarray:
        """World offset [...,3] from the pelvis bone's head to the pelvis joint, for its world rotations."""
        return orient @ self.skeleton.pelvis_pivot

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

    def limb_length(self, a: int, b: int) -> float:
        """Rest distance between the joints played by the bones of joints a and b."""
        h = self.rest_joints
        return float(np.linalg.norm(h[self.mapped[b]] - h[self.mapped[a]]))

    def _limb_knee(self, upper: int, middle: int, end: int, base: np.ndarray, goals: np.ndarray, upper_rot: np.ndarray) -> np.ndarray:
        """Two-bone solve: where the knee/elbow goes so the ankle/wrist reaches its goal from ``base``.

        The bend plane is the clip's (through its knee/elbow); where the clip's limb is straight, the
        clip's upper-joint rotation says which way is forward (knees bend forward, elbows back).
        """
        l1, l2 = self.limb_length(upper, middle), self.limb_length(middle, end)
        to_end = goals[:, end] - base
        dist = np.clip(np.linalg.norm(to_end, axis=-1), abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)
        e = unit(to_end)
        natural = apply(upper_rot, self.axes @ np.array([0.0, 0.0, 1.0 if middle in KNEES else -1.0]))
        bend = goals[:, middle] - base + 1e-3 * natural
        bend = bend - np.sum(bend * e, axis=-1, keepdims=True) * e
        cos_a = np.clip((l1 * l1 + dist * dist - l2 * l2) / (2 * l1 * dist), -1.0, 1.0)[:, None]
        return base + e * (l1 * cos_a) + unit(bend) * (l1 * np.sqrt(1.0 - cos_a * cos_a))

    def solve(self, goals: np.ndarray, world_rot: np.ndarray) -> Pose:
        """Pose for joint goals [T,22,3] and clip world rotations [T,22,3,3], both in the solver's axes."""
        rest, count = self.skeleton, goals.shape[0]
        goals = goals.copy()
        limbs = {u: (u, m, e) for u, m, e in LIMBS if all(k in self.mapped for k in (u, m, e))}
        up = self.axes[:, 1]
        orient = np.empty((count, len(rest.parents), 3, 3))
        heads = np.empty((count, len(rest.parents), 3))
        for b, parent in enumerate(rest.parents):
            joint = self.bone_joint.get(b)
            if parent >= 0:
                heads[:, b] = heads[:, parent] + apply(orient[:, parent], self.rest_offsets[b])
                if joint is None:  # unmapped bones keep their rest pose relative to the parent
                    orient[:, b] = apply(orient[:, parent], self.rest_in_parent[b])
            else:
                orient[:, b], heads[:, b] = self.rest_orient[b], self.rest_heads[b]
            if self.follows[b] >= 0:  # a constraint copies another bone's world transform
                orient[:, b], heads[:, b] = orient[:, self.follows[b]], heads[:, self.follows[b]]
            if b == rest.root:
                shift = goals[:, PELVIS] - self.rest_joints[self.mapped[PELVIS]]
                heads[:, b] = self.rest_heads[b] + shift - (shift @ up)[:, None] * up
            elif joint == PELVIS:
                hips = frame(goals[:, J["left_hip"]] - goals[:, J["right_hip"]], goals[:, self.spine_joint] - goals[:, PELVIS])
                orient[:, b] = apply(hips, self.rest_frame.T @ self.rest_orient[b])
                heads[:, b] = goals[:, PELVIS] - self.pivot(orient[:, b])
            elif joint is not None:
                if joint in limbs:
                    goals[:, limbs[joint][1]] = self._limb_knee(*limbs[joint], heads[:, b], goals, world_rot[:, joint])
                orient[:, b] = apply(world_rot[:, joint], self.turn[joint])
                if joint in self.aim:
                    pointing = apply(world_rot[:, joint], self.pointer[joint])
                    orient[:, b] = swing(pointing, goals[:, self.aim[joint][0]] - heads[:, b]) @ orient[:, b]
        return Pose(orient, heads)

    def clip_rotations(self, orient: np.ndarray) -> np.ndarray:
        """Clip world rotations [T,22,3,3] that would pose the mapped bones as ``orient``.

        The inverse of :meth:`solve` for twist: ``W_j = O_b · (A_j · rest_b)ᵀ``; unmapped joints follow
        their parent, and the pelvis uses its hip/spine frame.
        """
        world = np.empty((orient.shape[0], skeleton.NUM_JOINTS, 3, 3))
        for j in range(skeleton.NUM_JOINTS):
            b = self.mapped.get(j)
            if j == PELVIS:
                world[:, j] = orient[:, b] @ self.rest_orient[b].T @ self.rest_frame
            elif b is None:
                world[:, j] = world[:, PARENTS[j]]
            else:
                world[:, j] = orient[:, b] @ self.turn[j].T
        return world
