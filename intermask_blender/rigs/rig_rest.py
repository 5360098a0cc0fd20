"""What the solver needs to know about a target armature, and where a clip stands in the scene.

:class:`RigRest` is a numpy snapshot of an armature's rest pose (bones, parents, rest matrices, the
object's world matrix), so the solver is plain array maths and never touches bpy per frame.
:class:`Placement` is the one mapping between clip space (model, Y-up metres) and Blender world space for
one character: ``world = origin + scale * model_to_blender(model)``. Baking stores it on the armature,
so reading the armature back is the exact inverse.

A rig's floor is where its feet are as the user sees it, not at rest: a glTF import can pose its root bone
metres away from its rest (RobotExpressive stands 2.37 m above its rest pose), so the floor is measured
from the evaluated feet (:func:`shown_floor_shift`) the first time a rig is baked onto, and stored with
the placement so every re-bake stands it on the same floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..seam import skeleton
from .bonemap import BoneMap, BoneMapError

J = skeleton.JOINT_INDEX
PLACEMENT_KEY = "intermask_placement"
#: The joints whose bones are the feet: the floor is under the lowest of their heads and tails.
FOOT_JOINTS = ("left_ankle", "right_ankle", "left_foot", "right_foot")
#: A shown floor closer than this (m) to the rest one is the rest one (float noise of the evaluation).
_SAME_FLOOR_M = 1e-5
#: Thigh + shin length (m) and ankle height above the floor (m) of a typical adult, used only to read an
#: armature that was never baked by us (no stored placement): clip = world / (rig legs / typical legs).
TYPICAL_LEG_LENGTH = 0.84
TYPICAL_ANKLE_HEIGHT = 0.08


class ArmatureScaleError(BoneMapError):
    """The armature object's scale is non-uniform (or sheared). A BoneMapError, so every place that
    reports an armature it cannot map reports this too; nothing is changed in the scene."""


def _check_uniform_scale(armature: Any, world: np.ndarray) -> None:
    """Bone rotations only stay rotations under uniform scale; say how to fix anything else."""
    axes = world[:3, :3]
    scale = np.linalg.norm(axes, axis=0)
    unit = axes / np.maximum(scale, 1e-12)
    sheared = np.abs(unit.T @ unit - np.eye(3)).max() > 1e-3
    if scale.max() > scale.min() * 1.001 or sheared:
        shown = ", ".join(f"{v:.3g}" for v in scale)
        raise ArmatureScaleError(
            f"'{armature.name}' has {'a sheared' if sheared else 'a non-uniform'} world scale ({shown}); bones can "
            "only be retargeted under uniform scale: apply its scale (Object > Apply > Scale), or its "
            "parent's, and try again")


@dataclass
class RigRest:
    """Rest pose of the bones that matter: mapped bones and all their ancestors, parents first."""

    name: str
    bone_names: list[str]
    parents: np.ndarray  # [B] index into bone_names, -1 at the top
    rest: np.ndarray  # [B, 4, 4] Bone.matrix_local (armature space)
    world: np.ndarray  # [4, 4] the armature object's matrix_world
    joints: dict[str, int]  # joint name (22 + optional "root") → index into bone_names
    rotation_modes: list[str]
    follows: np.ndarray  # [B] bone whose world transform this one copies (a constraint), else -1
    constrained: np.ndarray  # [B] bool: the bone has constraints
    pelvis_offset: np.ndarray  # [3] the pelvis joint in the pelvis bone's rest frame (armature units)
    tails: np.ndarray  # [B, 3] rest tails (armature space)
    tail_joints: dict[str, int]  # joint the rig has no bone for → the bone whose tail it is
    carriers: np.ndarray  # [B] bone that carries this one instead of its parent (detached ends, twist bones), else -1
    floor_shift: float = 0.0  # world z of the feet as the rig is shown minus at rest (see shown_floor_shift)

    @property
    def object_rotation(self) -> np.ndarray:
        """The object's world rotation without its scale (armature space → world directions)."""
        m = self.world[:3, :3]
        return m / np.linalg.norm(m, axis=0, keepdims=True)

    @property
    def object_scale(self) -> float:
        return float(np.cbrt(abs(np.linalg.det(self.world[:3, :3]))))

    def rest_world(self) -> tuple[np.ndarray, np.ndarray]:
        """World rest orientations [B,3,3] (no scale) and heads [B,3]."""
        orient = self.object_rotation @ self.rest[:, :3, :3]
        heads = self.rest[:, :3, 3] @ self.world[:3, :3].T + self.world[:3, 3]
        return orient, heads

    def to_world(self, points: np.ndarray) -> np.ndarray:
        return points @ self.world[:3, :3].T + self.world[:3, 3]

    def head(self, joint: str) -> np.ndarray:
        """World rest position of a joint: its bone's head, or the tail of the bone it ends."""
        if joint in self.tail_joints:
            return self.to_world(self.tails[self.tail_joints[joint]])
        return self.rest_world()[1][self.joints[joint]]

    def pelvis_pivot(self, orient: np.ndarray) -> np.ndarray:
        """World offset [...,3] from the pelvis bone's head to the pelvis joint, for its world rotations."""
        return orient @ (self.pelvis_offset * self.object_scale)

    def leg_length(self) -> float:
        """Mean thigh + shin length in world units (what the clip is scaled to)."""
        total = 0.0
        for side in ("left", "right"):
            hip, knee, ankle = (self.head(f"{side}_{n}") for n in ("hip", "knee", "ankle"))
            total += float(np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))
        return total / 2.0

    def ankle_height(self) -> float:
        """World z where a standing foot's ankle is on this rig: its rest ankles on the floor it stands on."""
        return float((self.head("left_ankle")[2] + self.head("right_ankle")[2]) / 2.0) + self.floor_shift


def copied_bone(armature: Any, pose_bone: Any) -> str | None:
    """The bone whose world transform ``pose_bone`` copies outright, if a constraint makes it do so.

    Control rigs (Rigify's ORG-shoulder copying the shoulder control) hang the bones we key below such
    copies; the solver must know them, or it would pose the children from the wrong parent. Only an
    unconditional copy counts: full influence, world to world, not driven.
    """
    active = [c for c in pose_bone.constraints if not c.mute]
    if not active:
        return None
    c = active[-1]  # a full world-space copy overrides everything before it, so only the last one counts
    drivers = armature.animation_data.drivers if armature.animation_data else ()
    driven = any(d.data_path == f'{pose_bone.path_from_id()}.constraints["{c.name}"].influence' for d in drivers)
    if (c.type == "COPY_TRANSFORMS" and c.influence == 1.0 and not driven and c.target == armature
            and c.owner_space == c.target_space == "WORLD" and c.mix_mode == "REPLACE" and c.head_tail == 0.0
            and c.subtarget in armature.data.bones):
        return str(c.subtarget)
    return None


def rig_rest(armature: Any, bone_map: BoneMap) -> RigRest:
    """Snapshot the rest pose of ``armature`` for the bones ``bone_map`` uses (no bpy.ops, no mode change).

    Wanted: the mapped bones, their ancestors, and any bone one of those copies (with its ancestors),
    ordered so that every bone comes after its parent and after the bone it copies.
    """
    bones = armature.data.bones
    wanted: dict[str, str | None] = {}  # bone → the bone it copies
    twists = {bone: joint for joint, names in bone_map.twist.items() for bone in names}
    todo = [*bone_map.bones.values(), *bone_map.tail_joints.values(), *twists]
    while todo:
        bone = bones[todo.pop()]
        while bone is not None and bone.name not in wanted:
            wanted[bone.name] = copied_bone(armature, armature.pose.bones[bone.name])
            todo += [c for c in (wanted[bone.name],) if c is not None]
            bone = bone.parent
    depth: dict[str, int] = {}

    def depth_of(name: str) -> int:
        if name not in depth:
            depth[name] = 0  # a copy cycle stops here instead of recursing forever
            before = [b for b in (bones[name].parent.name if bones[name].parent else None, wanted[name]) if b]
            depth[name] = 1 + max((depth_of(b) for b in before), default=-1)
        return depth[name]

    order = [b.name for b in bones if b.name in wanted]
    order.sort(key=depth_of)  # parents and copied bones first
    index = {n: i for i, n in enumerate(order)}
    parents = np.array([index[bones[n].parent.name] if bones[n].parent else -1 for n in order], dtype=np.int64)
    rest = np.array([np.array(bones[n].matrix_local) for n in order], dtype=np.float64)
    pelvis = index[bone_map.bones["pelvis"]]
    pelvis_offset = np.zeros(3)
    if bone_map.pelvis_pivot is not None:
        pelvis_offset = rest[pelvis, :3, :3].T @ (np.array(bones[bone_map.pelvis_pivot].head_local) - rest[pelvis, :3, 3])
    world = np.array(armature.matrix_world, dtype=np.float64)
    _check_uniform_scale(armature, world)
    carriers = np.full(len(order), -1, dtype=np.int64)
    for bone, joint in twists.items():  # a twist bone turns with its segment
        carriers[index[bone]] = index[bone_map.bones[joint]]
    for joint in bone_map.detached:  # an IK-style end hangs off the root: the limb bone above it carries it
        above = skeleton.PARENTS[J[joint]]
        while skeleton.JOINT_NAMES[above] not in bone_map.bones:
            above = skeleton.PARENTS[above]
        carriers[index[bone_map.bones[joint]]] = index[bone_map.bones[skeleton.JOINT_NAMES[above]]]
    return RigRest(
        name=armature.name,
        bone_names=order,
        parents=parents,
        rest=rest,
        world=world,
        joints={j: index[b] for j, b in bone_map.bones.items()},
        rotation_modes=[armature.pose.bones[n].rotation_mode for n in order],
        follows=np.array([index[wanted[n]] if wanted[n] else -1 for n in order], dtype=np.int64),
        constrained=np.array([len(armature.pose.bones[n].constraints) > 0 for n in order]),
        pelvis_offset=pelvis_offset,
        tails=np.array([np.array(bones[n].tail_local) for n in order], dtype=np.float64),
        tail_joints={j: index[b] for j, b in bone_map.tail_joints.items()},
        carriers=carriers,
    )


@dataclass
class Placement:
    """Clip space → world for one character: ``world = origin + scale * model_to_blender(model)``."""

    scale: float
    origin: np.ndarray  # [3] world position of the clip's origin on its floor
    floor_shift: float = 0.0  # the rig's floor above its rest feet when it was first baked (RigRest.floor_shift)

    def to_world(self, model_points: np.ndarray) -> np.ndarray:
        return self.origin + self.scale * skeleton.model_to_blender(np.asarray(model_points, dtype=np.float64))

    def to_model(self, world_points: np.ndarray) -> np.ndarray:
        return skeleton.blender_to_model((np.asarray(world_points, dtype=np.float64) - self.origin) / self.scale)

    def store(self, armature: Any) -> None:
        armature[PLACEMENT_KEY] = [float(self.scale), *map(float, self.origin), float(self.floor_shift)]

    @classmethod
    def stored(cls, armature: Any) -> Placement | None:
        """The stored placement; one stored before floors were measured (4 values) stood on the rest feet."""
        values = armature.get(PLACEMENT_KEY)
        if values is None or len(values) not in (4, 5):
            return None
        shift = float(values[4]) if len(values) == 5 else 0.0
        return cls(float(values[0]), np.array(values[1:4], dtype=np.float64), shift)


def clip_leg_length(positions: np.ndarray) -> float:
    """Median thigh + shin length (m) of one person's [T,22,3] positions, both sides averaged."""
    total = np.zeros(positions.shape[0])
    for side in ("left", "right"):
        hip, knee, ankle = (positions[:, J[f"{side}_{n}"]] for n in ("hip", "knee", "ankle"))
        total += np.linalg.norm(knee - hip, axis=-1) + np.linalg.norm(ankle - knee, axis=-1)
    return float(np.median(total) / 2.0)


def standing_ankle_height(positions: np.ndarray, contacts: np.ndarray) -> float:
    """Clip ankle height (m, model Y) while the foot is planted; 5th percentile when it never is."""
    heights = positions[:, [J["left_ankle"], J["right_ankle"]], 1]
    planted = contacts[:, [0, 2]]
    if planted.any():
        return float(np.median(heights[planted]))
    return float(np.percentile(heights, 5))


def place(positions: np.ndarray, contacts: np.ndarray, rig: RigRest, anchor_xy: np.ndarray) -> Placement:
    """Scale the clip by leg length and stand it on the rig's floor, its origin at ``anchor_xy``.

    The floor is measured from the rig's feet, not its origin: a planted clip ankle lands where the rig's
    rest ankle is (world space, with every parent object's transform), so feet neither float nor sink
    whatever the rig's foot height or wherever its bones lie relative to the armature's origin.
    """
    clip_legs = clip_leg_length(positions)
    if not clip_legs > 1e-6:
        raise ValueError("the clip's legs have zero length")
    scale = rig.leg_length() / clip_legs
    floor = rig.ankle_height() - scale * standing_ankle_height(positions, contacts)
    return Placement(scale, np.array([anchor_xy[0], anchor_xy[1], floor], dtype=np.float64), rig.floor_shift)


def default_placement(rig: RigRest) -> Placement:
    """Placement for reading an armature we never baked: typical human legs, origin under the object."""
    scale = rig.leg_length() / TYPICAL_LEG_LENGTH
    floor = rig.ankle_height() - scale * TYPICAL_ANKLE_HEIGHT
    return Placement(scale, np.array([rig.world[0, 3], rig.world[1, 3], floor], dtype=np.float64), rig.floor_shift)


def _lowest_foot_z(points: list[np.ndarray]) -> float:
    return float(min(p[2] for p in points))


def shown_floor_shift(armature: Any, bone_map: BoneMap, scene: Any) -> float:
    """How far above its rest feet the armature's feet are as it is shown now: the lowest head or tail of
    its foot bones evaluated in ``scene`` (world space, parents and current pose included) minus the
    lowest at rest. Zero for a rig whose current pose is its rest."""
    layer = next((v for v in scene.view_layers if armature.name in v.objects), scene.view_layers[0])
    layer.update()  # transforms set since the last evaluation (an import's unit fix) are not evaluated yet
    evaluated = armature.evaluated_get(layer.depsgraph)
    shown_world, rest_world = np.array(evaluated.matrix_world), np.array(armature.matrix_world)
    feet = [bone_map.bones[j] for j in FOOT_JOINTS if j in bone_map.bones]
    shown, rest = [], []
    for name in feet:
        pose, bone = evaluated.pose.bones[name], armature.data.bones[name]
        shown += [shown_world[:3, :3] @ np.array(p) + shown_world[:3, 3] for p in (pose.head, pose.tail)]
        rest += [rest_world[:3, :3] @ np.array(p) + rest_world[:3, 3] for p in (bone.head_local, bone.tail_local)]
    shift = _lowest_foot_z(shown) - _lowest_foot_z(rest)
    return 0.0 if abs(shift) < _SAME_FLOOR_M else shift


def rig_as_shown(armature: Any, bone_map: BoneMap, scene: Any) -> RigRest:
    """:func:`rig_rest` standing on its floor: the one stored when it was first baked, else measured now."""
    rig = rig_rest(armature, bone_map)
    stored = Placement.stored(armature)
    rig.floor_shift = stored.floor_shift if stored is not None else shown_floor_shift(armature, bone_map, scene)
    return rig

