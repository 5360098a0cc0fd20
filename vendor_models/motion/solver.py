"""THE pose solver: a 22-joint motion onto any skeleton, every frame at once (numpy only).

The add-on's retarget (``intermask_blender/rigs/retarget.py``) poses an armature in Blender's world with
it; it lives in the shared motion package so any other side that must pose a body does it with the same
arithmetic.

Nothing assumes the skeleton's rest pose, its bones' axes or their roll. For each bone that plays a joint
we measure, in the rest pose, the direction from its joint to the next mapped joint down its chain, and
the rotation ``A`` that carries it onto the clip's rest direction (``skeleton.REST_DIRECTIONS``, with the
skeleton's own facing taken out first). Per frame the bone's world rotation is then ``S · W_j · A`` —
``W_j`` is the clip's world rotation of joint j (it supplies the twist) and ``S`` the smallest swing that
points the bone where it must (it supplies the direction).

A skeleton of other proportions than the clip's follows the clip's own limb directions, the hips on the
clip's hips scaled by leg length, and a limb reaches (:mod:`two_bone`) only for the targets it is given —
planted feet and hands on the partner — falling back to the clip's directions where reaching would fold it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import rotations as rot
from . import skeleton
from .two_bone import Reach, reach

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
#: Leaves whose rest orientation is the body's, not their parent bone's: the clip's rest direction from the
#: neck to the head is forward (HumanML3D's convention), while its head rotation is upright at rest.
FACING_LEAVES = (J["head"],)
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
    """The rest pose of whatever plays the 22 joints: an armature's bones, or a clip person's own skeleton
    (one bone per joint). All in the solver's world, without scale."""

    parents: np.ndarray  # [B] index of each bone's parent, -1 at the top
    rest_orient: np.ndarray  # [B, 3, 3] world rest rotations
    rest_heads: np.ndarray  # [B, 3] world rest heads
    joints: dict[int, int]  # joint index (0..21) → the bone playing it
    root: int | None = None  # a bone on the floor under the pelvis that carries the root motion
    follows: np.ndarray | None = None  # [B] bone whose world transform this one copies (a constraint), else -1
    pelvis_pivot: np.ndarray = field(default_factory=lambda: np.zeros(3))  # pelvis joint in the pelvis bone's frame
    #: [B] bone that carries this one as if it were its parent, else -1: the limb bone above a detached
    #: IK-style foot or hand (which hangs off the root), or the segment a twist bone turns with.
    carriers: np.ndarray | None = None

    @classmethod
    def of_joints(cls, rest_joints: np.ndarray) -> Skeleton:
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


def _solve_order(parents: np.ndarray, carriers: np.ndarray, follows: np.ndarray) -> list[int]:
    """Bones ordered so each comes after the bone that places it (carrier, else parent) and the bone it copies."""
    before = [[int(c if c >= 0 else p), int(f)] for p, c, f in zip(parents, carriers, follows)]
    order: list[int] = []
    state = np.zeros(len(parents), dtype=np.int8)  # 0 new, 1 in progress, 2 done

    def visit(b: int) -> None:
        if state[b]:
            return  # done, or a cycle (a copy of a descendant), which keeps the order given
        state[b] = 1
        for d in before[b]:
            if d >= 0:
                visit(d)
        state[b] = 2
        order.append(b)

    for b in range(len(parents)):
        visit(b)
    return order


class PoseSolver:
    """Rest-pose measurements of one skeleton, reused for every frame; ``axes`` says how the solver's world
    lies relative to model axes (identity: model space; :data:`BLENDER_AXES`: Blender's world)."""

    def __init__(self, rest: Skeleton, axes: np.ndarray = MODEL_AXES) -> None:
        self.skeleton, self.axes = rest, axes
        count = len(rest.parents)
        self.follows = rest.follows if rest.follows is not None else np.full(count, -1)
        carriers = rest.carriers if rest.carriers is not None else np.full(count, -1)
        self.rest_orient, self.rest_heads = rest.rest_orient, rest.rest_heads
        self.mapped = dict(rest.joints)
        self.bone_joint = {b: j for j, b in self.mapped.items()}
        self.spine_joint = next(J[j] for j in ("spine1", "spine2", "spine3", "neck", "head") if J[j] in self.mapped)
        pelvis = self.mapped[PELVIS]
        heads = self.rest_joints = self.rest_heads.copy()  # where each mapped bone's joint is, at rest
        heads[pelvis] += self.pivot(self.rest_orient[pelvis])
        hips = heads[self.mapped[J["left_hip"]]], heads[self.mapped[J["right_hip"]]]
        rest_frame = frame(hips[0] - hips[1], heads[self.mapped[self.spine_joint]] - heads[self.mapped[PELVIS]])
        self.rest_frame = rest_frame
        # a rig of other proportions stands on its hips: their midpoint, in the pelvis bone's frame
        self.hip_centre = self.rest_orient[pelvis].T @ ((hips[0] + hips[1]) / 2.0 - self.rest_heads[pelvis])
        self.hip_width = float(np.linalg.norm(hips[0] - hips[1]))
        # the skeleton's rest facing → the clip's (left = +X, up = model +Y, in the solver's axes); a rig's up
        # from its hips to the top of its spine, as its pelvis bone's head may sit anywhere around the hips
        top = next(J[j] for j in ("head", "neck", "spine3", "spine2", "spine1") if J[j] in self.mapped)
        body = frame(hips[0] - hips[1], heads[self.mapped[top]] - (hips[0] + hips[1]) / 2.0)
        facing = (body @ frame(axes[:, 0], axes[:, 1]).T).T  # a transposed view, as body.T is
        self.align: dict[int, np.ndarray] = {}
        self.aim: dict[int, tuple[int, np.ndarray]] = {}  # joint → (goal joint, rest direction to it)
        for j in sorted(self.mapped):  # parents have lower indices, so a leaf finds its parent's alignment
            if j == PELVIS:
                continue
            target = self._aim_target(j)
            if target is None:  # a leaf turns as its parent's bone does, but the head as the body faces
                parent = self._mapped_parent(j)
                self.align[j] = facing if j in FACING_LEAVES else self.align.get(parent, facing)
                continue
            goal, first_link = target
            u = unit(heads[self.mapped[goal]] - heads[self.mapped[j]])
            d = axes @ skeleton.REST_DIRECTIONS[first_link].astype(np.float64)
            self.align[j] = swing(facing @ u, d) @ facing
            self.aim[j] = (goal, u)
        # per frame, bone b playing joint j turns as S · W_j · (A_j · rest_b), aiming W_j · (A_j · u) along its goal
        self.turn = {j: self.align[j] @ self.rest_orient[b] for j, b in self.mapped.items() if j in self.align}
        self.pointer = {j: self.align[j] @ u for j, (_, u) in self.aim.items()}
        # each bone's rest head and rest orientation in the rest frame of the bone that places it
        self.placed_by = np.where(carriers >= 0, carriers, rest.parents)
        placer = np.maximum(self.placed_by, 0)
        placer_inv = np.swapaxes(self.rest_orient[placer], -1, -2)
        self.rest_offsets = (placer_inv @ (self.rest_heads - self.rest_heads[placer])[:, :, None])[..., 0]
        self.rest_in_parent = placer_inv @ self.rest_orient
        self.order = _solve_order(rest.parents, carriers, self.follows)
        self.limbs = {u: (u, m, e) for u, m, e in LIMBS if all(k in self.mapped for k in (u, m, e))}

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

    def _stance(self, goals: np.ndarray, orient: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pelvis bone's head for its world rotations, and the point (goal, rest) the root motion follows:
        the hips' midpoint on the clip's."""
        centre = (goals[:, J["left_hip"]] + goals[:, J["right_hip"]]) / 2.0
        rest = self.rest_heads[self.mapped[PELVIS]] + self.rest_orient[self.mapped[PELVIS]] @ self.hip_centre
        return centre - apply(orient, self.hip_centre), centre, rest

    def _across(self, goals: np.ndarray) -> np.ndarray:
        """Right hip → left hip [T,3] for the pelvis frame. The hips keep the clip's difference in height
        rather than its tilt: cartoon-wide hips tilted as far would lift one foot off the floor and fold the
        other leg."""
        across = goals[:, J["left_hip"]] - goals[:, J["right_hip"]]
        up = self.axes[:, 1]
        rise = np.clip(across @ up, -0.9 * self.hip_width, 0.9 * self.hip_width)
        flat = unit(across - (across @ up)[:, None] * up)
        return flat * np.sqrt(self.hip_width**2 - rise**2)[:, None] + rise[:, None] * up

    def _limb_aims(self, limb: tuple[int, int, int], base: np.ndarray, goals: np.ndarray, world_rot: np.ndarray,
                   goal: Reach) -> tuple[np.ndarray, np.ndarray]:
        """Points the upper and middle bones of a reaching limb aim at (knee/elbow, then ankle/wrist)."""
        upper, middle, end = limb
        start = goals[:, upper]
        natural = apply(world_rot[:, upper], self.axes @ np.array([0.0, 0.0, 1.0 if middle in KNEES else -1.0]))
        return reach(base, unit(goals[:, middle] - start), unit(goals[:, end] - goals[:, middle]),
                     (self.limb_length(upper, middle), self.limb_length(middle, end)), goal, natural)

    def solve(self, goals: np.ndarray, world_rot: np.ndarray, reaching: dict[int, Reach] | None = None) -> Pose:
        """Pose for joint goals [T,22,3] and clip world rotations [T,22,3,3], both in the solver's axes.

        ``reaching``: end joint (ankle or wrist) → what its limb reaches for; every other limb follows the
        clip's directions.
        """
        rest, count = self.skeleton, goals.shape[0]
        reaching = reaching or {}
        aim_at: dict[int, np.ndarray] = {}  # joint → the point its bone aims at, where a limb reaches
        up = self.axes[:, 1]
        pelvis = self.mapped[PELVIS]
        hips = frame(self._across(goals), goals[:, self.spine_joint] - goals[:, PELVIS])
        pelvis_orient = apply(hips, self.rest_frame.T @ self.rest_orient[pelvis])
        pelvis_head, centre, centre_rest = self._stance(goals, pelvis_orient)
        orient = np.empty((count, len(rest.parents), 3, 3))
        heads = np.empty((count, len(rest.parents), 3))
        for b in self.order:
            joint, placer = self.bone_joint.get(b), self.placed_by[b]
            if placer >= 0:
                heads[:, b] = heads[:, placer] + apply(orient[:, placer], self.rest_offsets[b])
                if joint is None:  # unmapped bones keep their rest pose relative to the bone that places them
                    orient[:, b] = apply(orient[:, placer], self.rest_in_parent[b])
            else:
                orient[:, b], heads[:, b] = self.rest_orient[b], self.rest_heads[b]
            if self.follows[b] >= 0:  # a constraint copies another bone's world transform
                orient[:, b], heads[:, b] = orient[:, self.follows[b]], heads[:, self.follows[b]]
            if b == rest.root:
                shift = centre - centre_rest
                heads[:, b] = self.rest_heads[b] + shift - (shift @ up)[:, None] * up
            elif joint == PELVIS:
                orient[:, b], heads[:, b] = pelvis_orient, pelvis_head
            elif joint is not None:
                orient[:, b] = apply(world_rot[:, joint], self.turn[joint])
                if joint not in self.aim:
                    continue
                limb = self.limbs.get(joint)
                if limb is not None and limb[2] in reaching:
                    aim_at[joint], aim_at[limb[1]] = self._limb_aims(limb, heads[:, b], goals, world_rot, reaching[limb[2]])
                goal = self.aim[joint][0]
                if joint in aim_at:
                    direction = aim_at[joint] - heads[:, b]
                else:
                    direction = goals[:, goal] - goals[:, joint]
                pointing = apply(world_rot[:, joint], self.pointer[joint])
                orient[:, b] = swing(pointing, direction) @ orient[:, b]
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
