"""Scenes the retargeting tests share: real salsa clips, Rigify's metarig, a built Mixamo-named rig, a BVH rig.

Every rig here is real Blender data built or imported by Blender itself; the clips are the real CMU salsa
pair converted by ``vendor_models.data.convert``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import bpy
import numpy as np

from intermask_blender.rigs import bonemap
from intermask_blender.rigs.bonemap import bone_map_for
from intermask_blender.rigs.retarget import clip_world_rotations
from intermask_blender.rigs.rig_specs import resolve_rig
from vendor_models.data.convert import convert
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.skeleton import JOINT_NAMES, PARENTS, model_to_blender

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cmu"
SALSA_A, SALSA_B = DATA / "bvh_daz" / "01.bvh", DATA / "bvh_daz" / "16.bvh"


@lru_cache(maxsize=1)
def _salsa_full() -> Clip:
    return convert([SALSA_A, SALSA_B])


def salsa_clip(frames: int = 300, start: int = 150) -> Clip:
    """A real converted salsa pair (P=2, 30 fps), ``frames`` long from frame ``start``."""
    clip = _salsa_full()
    window = slice(start, start + frames)
    return Clip(clip.positions[window], clip.rotations[window], clip.contacts[window], clip.fps, dict(clip.meta))


def fresh_scene(fps: int = 30) -> bpy.types.Scene:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bonemap.register()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_set(1)
    return scene


def metarig(scene: bpy.types.Scene) -> bpy.types.Object:
    return resolve_rig("rigify", scene, 0)


def generated_rigify(scene: bpy.types.Scene) -> bpy.types.Object:
    """The control rig Rigify itself generates from its human metarig (FK/IK limbs, torso, tweaks; ~4 s)."""
    return resolve_rig("rigify-rig", scene, 0)


_MIXAMO = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
    **{f"{s}_{j}": f"{S}{m}" for s, S in (("left", "Left"), ("right", "Right")) for j, m in (
        ("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"), ("collar", "Shoulder"),
        ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"))},
}


def clip_rest_joints(clip: Clip, person: int) -> np.ndarray:
    """The clip person's own rest skeleton (Blender axes): each bone ``W_parentᵀ · (child − parent)``.

    Under the clip's rotation convention this is constant over time (a rigid skeleton), so the mean
    over frames is the rest pose every rotation of the clip is relative to.
    """
    world = clip_world_rotations(clip.rotations[:, person])  # Blender axes
    positions = model_to_blender(clip.positions[:, person].astype(np.float64))
    joints = np.zeros((22, 3))
    for j in range(1, 22):
        p = PARENTS[j]
        offset = np.einsum("tji,tj->ti", world[:, p], positions[:, j] - positions[:, p]).mean(axis=0)
        joints[j] = joints[p] + offset
    return joints


_UE4 = {
    "pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02", "spine3": "spine_03", "neck": "neck_01", "head": "head",
    **{f"{s}_{j}": f"{m}_{s[0]}" for s in ("left", "right") for j, m in (
        ("hip", "thigh"), ("knee", "calf"), ("ankle", "foot"), ("foot", "ball"), ("collar", "clavicle"),
        ("shoulder", "upperarm"), ("elbow", "lowerarm"), ("wrist", "hand"))},
}


def ue4_rig_with_root(scene: bpy.types.Scene, clip: Clip, person: int, name: str) -> bpy.types.Object:
    """The same kind of rig with UE4 mannequin names and a ``root`` bone on the floor above the pelvis."""
    return mixamo_apose_cm_rig(scene, clip, person, name, names=_UE4, prefix="", root="root")


def mixamo_apose_cm_rig(scene: bpy.types.Scene, clip: Clip, person: int, name: str, names: dict[str, str] = _MIXAMO,
                        prefix: str = "mixamorig:", root: str | None = None) -> bpy.types.Object:
    """An A-pose, centimetre (object scale 0.01), randomly rolled, rotated Mixamo-named armature.

    Its bones have the clip person's proportions (× 1.1), so after retargeting its joints must land on
    the scaled clip joints; its rest pose, rolls, units and object transform all differ from the clip's.
    """
    joints = clip_rest_joints(clip, person) * 1.1
    for side, sign in (("left", 1.0), ("right", -1.0)):  # arms (sideways in the clip's T-pose) lowered 45°: A-pose
        pivot = joints[JOINT_NAMES.index(f"{side}_shoulder")]
        angle = np.radians(-45.0) * sign
        turn = np.array([[np.cos(angle), 0, -np.sin(angle)], [0, 1, 0], [np.sin(angle), 0, np.cos(angle)]])
        for part in ("elbow", "wrist"):
            j = JOINT_NAMES.index(f"{side}_{part}")
            joints[j] = pivot + turn @ (joints[j] - pivot)
    neck, head = JOINT_NAMES.index("neck"), JOINT_NAMES.index("head")  # head straight up, not forward
    joints[head] = joints[neck] + np.array([0.0, 0.0, np.linalg.norm(joints[head] - joints[neck])])
    joints[:, 2] -= joints[:, 2].min() - 0.03
    wrist, shoulder = JOINT_NAMES.index("left_wrist"), JOINT_NAMES.index("left_shoulder")
    assert joints[wrist, 2] < joints[shoulder, 2] - 0.2, "the test rig must be in an A-pose"
    rng = np.random.default_rng(7)
    armature = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, armature)
    scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    edit = {}
    top = None
    if root is not None:
        top = armature.edit_bones.new(root)
        top.head, top.tail = (0.0, 0.0, 0.0), (0.0, 30.0, 0.0)
    for j, joint in enumerate(JOINT_NAMES):
        bone = armature.edit_bones.new(prefix + names[joint])
        children = [c for c, p in enumerate(PARENTS) if p == j]
        tail = joints[{0: 3, 9: 12}.get(j, children[0])] if children else joints[j] + (joints[j] - joints[PARENTS[j]]) * 0.4
        bone.head, bone.tail = (joints[j] * 100).tolist(), (tail * 100).tolist()
        bone.roll = float(rng.uniform(-np.pi, np.pi))
        edit[j] = bone
        bone.parent = edit[PARENTS[j]] if PARENTS[j] >= 0 else top
    bpy.ops.object.mode_set(mode="OBJECT")
    obj.scale = (0.01, 0.01, 0.01)
    obj.rotation_euler = (0.0, 0.0, np.radians(35.0))
    obj.location = (1.5 * person, 0.7, 0.0)
    return obj


def daz_bvh_rig(scene: bpy.types.Scene, tmp: Path, source: Path = SALSA_A, frames: int = 60) -> bpy.types.Object:
    """Blender's BVH importer on a shortened copy of a real salsa file (T-pose + ``frames`` frames)."""
    text = source.read_text().replace("\r\n", "\n").replace("\r", "\n")
    head, _, motion = text.partition("MOTION\n")
    lines = motion.split("\n")
    frame_lines = [line for line in lines[2:] if line.strip()][: frames + 1]
    copy = tmp / source.name
    copy.write_text(f"{head}MOTION\nFrames: {len(frame_lines)}\n{lines[1]}\n" + "\n".join(frame_lines) + "\n")
    return resolve_rig(str(copy), scene, 0)


def joint_world_positions(obj: bpy.types.Object, scene: bpy.types.Scene, frames: list[int]) -> dict[str, np.ndarray]:
    """Evaluated world heads [F,3] of the mapped bones at scene ``frames``, by joint name."""
    bones = bone_map_for(obj).bones
    out = {joint: np.zeros((len(frames), 3)) for joint in bones}
    for i, frame in enumerate(frames):
        scene.frame_set(frame)
        evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        for joint, bone in bones.items():
            out[joint][i] = np.array(evaluated.matrix_world @ evaluated.pose.bones[bone].head)
    return out
