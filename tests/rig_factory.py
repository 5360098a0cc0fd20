"""Humanoid armatures as animators bring them, built with real bpy, each with its true joint → bone map.

``build_rig(scene, style, ...)`` makes one armature in the bone layout and naming of a rig family
(Mixamo, UE4/UE5 mannequins, Character Creator, Daz Genesis, SMPL, VRoid/VRM; ``rigify`` is the real
metarig from the rigify add-on) on a human body template (:func:`mannequin.rest_joints`), in a T or A
pose, optionally with every name replaced by a random one, IK-style feet under a root bone, no hand
bones, fingers, cartoon proportions and a scaled, rotated parent object. The returned :class:`BuiltRig`
says which bone truly plays each joint, which ends are detached, which wrists are a forearm's tail and
which bones share a segment's twist: what a bone map of this rig must come out as.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
import numpy as np
from mathutils import Euler, Matrix

from intermask_blender.rigs.bonemap import PRESETS
from intermask_blender.rigs.mannequin import rest_joints
from intermask_blender.rigs.rig_specs import resolve_rig
from vendor_models.motion.skeleton import JOINT_INDEX

STYLES = ("mixamo", "ue4", "ue5", "character_creator", "daz", "smpl", "vrm", "rigify")
SIDES = (("left", "L", "l", "Left", 1.0), ("right", "R", "r", "Right", -1.0))


@dataclass
class BuiltRig:
    armature: Any
    truth: dict[str, str]  # joint (22 + "root") → bone
    detached: tuple[str, ...] = ()
    tail_joints: dict[str, str] = field(default_factory=dict)
    twist: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class _Layout:
    """A style's naming and bone layout: part key → bone name (``{S}`` etc. filled per side)."""

    centre: dict[str, str]
    sided: dict[str, str]
    spine: tuple[str, ...]
    neck: tuple[str, ...]
    root: str | None = None
    hip_bone: str | None = None  # a bone between the pelvis and the thighs (CC, Daz)
    head_top: str | None = None  # a leaf marking the top of the skull (Mixamo)
    toe_end: str | None = None
    in_chain_twist: bool = False  # Daz: ThighBend → ThighTwist → Shin
    side_twists: int = 0  # UE/CC: twist bones beside each limb segment
    hand_leaf: str | None = None  # SMPL: a leaf after the wrist
    ik_extras: bool = False  # UE: ik_foot_root / ik_hand_root control bones


_LAYOUTS: dict[str, _Layout] = {
    "mixamo": _Layout({"pelvis": "mixamorig:Hips", "head": "mixamorig:Head"},
                      {"hip": "mixamorig:{Side}UpLeg", "knee": "mixamorig:{Side}Leg", "ankle": "mixamorig:{Side}Foot",
                       "foot": "mixamorig:{Side}ToeBase", "collar": "mixamorig:{Side}Shoulder", "shoulder": "mixamorig:{Side}Arm",
                       "elbow": "mixamorig:{Side}ForeArm", "wrist": "mixamorig:{Side}Hand", "finger": "mixamorig:{Side}Hand{f}{n}"},
                      ("mixamorig:Spine", "mixamorig:Spine1", "mixamorig:Spine2"), ("mixamorig:Neck",),
                      head_top="mixamorig:HeadTop_End", toe_end="mixamorig:{Side}Toe_End"),
    "ue4": _Layout({"pelvis": "pelvis", "head": "head"},
                   {"hip": "thigh_{s}", "knee": "calf_{s}", "ankle": "foot_{s}", "foot": "ball_{s}", "collar": "clavicle_{s}",
                    "shoulder": "upperarm_{s}", "elbow": "lowerarm_{s}", "wrist": "hand_{s}", "finger": "{f}_{n:02d}_{s}",
                    "twist_hip": "thigh_twist_{t:02d}_{s}", "twist_knee": "calf_twist_{t:02d}_{s}",
                    "twist_shoulder": "upperarm_twist_{t:02d}_{s}", "twist_elbow": "lowerarm_twist_{t:02d}_{s}"},
                   ("spine_01", "spine_02", "spine_03"), ("neck_01",), root="root", side_twists=1, ik_extras=True),
    "ue5": _Layout({"pelvis": "pelvis", "head": "head"},
                   {"hip": "thigh_{s}", "knee": "calf_{s}", "ankle": "foot_{s}", "foot": "ball_{s}", "collar": "clavicle_{s}",
                    "shoulder": "upperarm_{s}", "elbow": "lowerarm_{s}", "wrist": "hand_{s}", "finger": "{f}_{n:02d}_{s}",
                    "twist_hip": "thigh_twist_{t:02d}_{s}", "twist_knee": "calf_twist_{t:02d}_{s}",
                    "twist_shoulder": "upperarm_twist_{t:02d}_{s}", "twist_elbow": "lowerarm_twist_{t:02d}_{s}"},
                   ("spine_01", "spine_02", "spine_03", "spine_04", "spine_05"), ("neck_01", "neck_02"), root="root",
                   side_twists=2, ik_extras=True),
    "character_creator": _Layout(
        {"pelvis": "CC_Base_Hip", "head": "CC_Base_Head"},
        {"hip": "CC_Base_{S}_Thigh", "knee": "CC_Base_{S}_Calf", "ankle": "CC_Base_{S}_Foot", "foot": "CC_Base_{S}_ToeBase",
         "collar": "CC_Base_{S}_Clavicle", "shoulder": "CC_Base_{S}_Upperarm", "elbow": "CC_Base_{S}_Forearm",
         "wrist": "CC_Base_{S}_Hand", "finger": "CC_Base_{S}_{f}{n}",
         "twist_hip": "CC_Base_{S}_ThighTwist{t:02d}", "twist_knee": "CC_Base_{S}_CalfTwist{t:02d}",
         "twist_shoulder": "CC_Base_{S}_UpperarmTwist{t:02d}", "twist_elbow": "CC_Base_{S}_ForearmTwist{t:02d}"},
        ("CC_Base_Waist", "CC_Base_Spine01", "CC_Base_Spine02"), ("CC_Base_NeckTwist01", "CC_Base_NeckTwist02"),
        root="CC_Base_BoneRoot", hip_bone="CC_Base_Pelvis", side_twists=2),
    "daz": _Layout({"pelvis": "hip", "head": "head"},
                   {"hip": "{s}ThighBend", "twist_hip": "{s}ThighTwist", "knee": "{s}Shin", "ankle": "{s}Foot",
                    "metatarsal": "{s}Metatarsals", "foot": "{s}Toe", "collar": "{s}Collar", "shoulder": "{s}ShldrBend",
                    "twist_shoulder": "{s}ShldrTwist", "elbow": "{s}ForearmBend", "twist_elbow": "{s}ForearmTwist",
                    "wrist": "{s}Hand", "finger": "{s}{f}{n}"},
                   ("abdomenLower", "abdomenUpper", "chestLower", "chestUpper"), ("neckLower", "neckUpper"),
                   hip_bone="pelvis", in_chain_twist=True),
    "smpl": _Layout({"pelvis": "m_avg_Pelvis", "head": "m_avg_Head"},
                    {"hip": "m_avg_{S}_Hip", "knee": "m_avg_{S}_Knee", "ankle": "m_avg_{S}_Ankle", "foot": "m_avg_{S}_Foot",
                     "collar": "m_avg_{S}_Collar", "shoulder": "m_avg_{S}_Shoulder", "elbow": "m_avg_{S}_Elbow",
                     "wrist": "m_avg_{S}_Wrist", "finger": "m_avg_{S}_{f}{n}"},
                    ("m_avg_Spine1", "m_avg_Spine2", "m_avg_Spine3"), ("m_avg_Neck",), hand_leaf="m_avg_{S}_Hand"),
    "vrm": _Layout({"pelvis": "J_Bip_C_Hips", "head": "J_Bip_C_Head"},
                   {"hip": "J_Bip_{S}_UpperLeg", "knee": "J_Bip_{S}_LowerLeg", "ankle": "J_Bip_{S}_Foot",
                    "foot": "J_Bip_{S}_ToeBase", "collar": "J_Bip_{S}_Shoulder", "shoulder": "J_Bip_{S}_UpperArm",
                    "elbow": "J_Bip_{S}_LowerArm", "wrist": "J_Bip_{S}_Hand", "finger": "J_Bip_{S}_{f}{n}"},
                   ("J_Bip_C_Spine", "J_Bip_C_Chest", "J_Bip_C_UpperChest"), ("J_Bip_C_Neck",), root="Root"),
}
_FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")


def _body(pose: str, cartoon: bool) -> dict[str, np.ndarray]:
    """The 22 joints (Blender axes, facing -Y, metres) in the requested pose and proportions."""
    joints = {name: p.copy() for name, p in zip(JOINT_INDEX, rest_joints())}
    for side, _, _, _, sign in SIDES:
        if cartoon:  # short legs, long arms (head size is set where the head bone is built)
            for part, pivot, factor in (("knee", "hip", 0.7), ("ankle", "hip", 0.7), ("foot", "hip", 0.7),
                                        ("elbow", "shoulder", 1.3), ("wrist", "shoulder", 1.3)):
                hub = joints[f"{side}_{pivot}"]
                joints[f"{side}_{part}"] = hub + factor * (joints[f"{side}_{part}"] - hub)
        if pose == "A":
            turn = np.array(Matrix.Rotation(np.radians(45.0) * sign, 3, "Y"))
            hub = joints[f"{side}_shoulder"]
            for part in ("elbow", "wrist"):
                joints[f"{side}_{part}"] = hub + turn @ (joints[f"{side}_{part}"] - hub)
    floor = min(joints["left_foot"][2], joints["right_foot"][2]) - 0.02
    return {k: v - np.array([0.0, 0.0, floor]) for k, v in joints.items()}


class _Bones:
    """Bones collected as (name, parent, head, tail) before they are created in edit mode."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[str | None, np.ndarray, np.ndarray]] = {}

    def add(self, name: str, parent: str | None, head: np.ndarray, tail: np.ndarray) -> str:
        self.items[name] = (parent, np.asarray(head, dtype=float), np.asarray(tail, dtype=float))
        return name


def _fill(template: str, side: tuple[str, str, str, str, float], **extra: Any) -> str:
    return template.format(side=side[0], S=side[1], s=side[2], Side=side[3], **extra)


def _layout_bones(layout: _Layout, joints: dict[str, np.ndarray], hands: bool, fingers: bool, ik_feet: bool,
                  ik_hands: bool, cartoon: bool, truth: BuiltRig) -> _Bones:
    bones, t = _Bones(), truth.truth
    up = np.array([0.0, 0.0, 1.0])
    root = layout.root or ("root" if ik_feet or ik_hands else None)
    if root:
        t["root"] = bones.add(root, None, np.zeros(3), np.array([0.0, 0.25, 0.0]))
    spine_heads = [joints["spine1"], joints["spine2"], joints["spine3"]]
    if len(layout.spine) != 3:  # evenly between spine1 and spine3, the middle one at spine2's height
        spine_heads = list(np.linspace(joints["spine1"], joints["spine3"], len(layout.spine)))
    t["pelvis"] = bones.add(layout.centre["pelvis"], root, joints["pelvis"], spine_heads[0])
    parent = t["pelvis"]
    picks = {0: "spine1", len(layout.spine) - 1: "spine3", (len(layout.spine) - 1) // 2: "spine2"}
    for i, name in enumerate(layout.spine):
        tail = spine_heads[i + 1] if i + 1 < len(layout.spine) else joints["neck"]
        parent = bones.add(name, parent, spine_heads[i], tail)
        if i in picks:
            t[picks[i]] = name
    chest = parent
    neck_heads = list(np.linspace(joints["neck"], joints["head"], len(layout.neck) + 1))
    for i, name in enumerate(layout.neck):
        parent = bones.add(name, parent, neck_heads[i], neck_heads[i + 1])
    t["neck"] = layout.neck[0]
    top = joints["head"] + up * (0.4 if cartoon else 0.2)
    t["head"] = bones.add(layout.centre["head"], parent, joints["head"], top)
    if layout.head_top:
        bones.add(layout.head_top, t["head"], top, top + up * 0.02)
    legs_parent = t["pelvis"]
    if layout.hip_bone:
        legs_parent = bones.add(layout.hip_bone, t["pelvis"], joints["pelvis"], joints["pelvis"] - up * 0.08)
    for side in SIDES:
        _leg(bones, layout, joints, side, legs_parent, root if ik_feet else None, truth)
        _arm(bones, layout, joints, side, chest, hands, fingers, root if ik_hands else None, truth)
    if layout.ik_extras:
        feet = bones.add("ik_foot_root", root, np.zeros(3), np.array([0.0, 0.2, 0.0]))
        hands_root = bones.add("ik_hand_root", root, np.zeros(3), np.array([0.0, 0.2, 0.0]))
        gun = bones.add("ik_hand_gun", hands_root, joints["right_wrist"], joints["right_wrist"] + up * 0.1)
        for side in SIDES:
            bones.add(f"ik_foot_{side[2]}", feet, joints[f"{side[0]}_ankle"], joints[f"{side[0]}_ankle"] + up * 0.1)
            bones.add(f"ik_hand_{side[2]}", gun, joints[f"{side[0]}_wrist"], joints[f"{side[0]}_wrist"] + up * 0.1)
    return bones


def _twists(bones: _Bones, layout: _Layout, side: tuple, part: str, owner: str, head: np.ndarray, tail: np.ndarray,
            truth: BuiltRig) -> None:
    names = []
    for i in range(layout.side_twists):
        at = head + (tail - head) * (i + 1) / (layout.side_twists + 1)
        names.append(bones.add(_fill(layout.sided[f"twist_{part}"], side, t=i + 1), owner, at, at + (tail - head) * 0.15))
    if names:
        truth.twist[f"{side[0]}_{part}"] = tuple(names)


def _leg(bones: _Bones, layout: _Layout, joints: dict[str, np.ndarray], side: tuple, parent: str, ik_root: str | None,
         truth: BuiltRig) -> None:
    t, s = truth.truth, side[0]
    hip, knee, ankle, ball = (joints[f"{s}_{p}"] for p in ("hip", "knee", "ankle", "foot"))
    name = {p: _fill(layout.sided[p], side) for p in ("hip", "knee", "ankle", "foot")}
    t[f"{s}_hip"] = bones.add(name["hip"], parent, hip, knee if not layout.in_chain_twist else (hip + knee) / 2)
    above_knee = name["hip"]
    if layout.in_chain_twist:
        above_knee = bones.add(_fill(layout.sided["twist_hip"], side), name["hip"], (hip + knee) / 2, knee)
        truth.twist[f"{s}_hip"] = (above_knee,)
    t[f"{s}_knee"] = bones.add(name["knee"], above_knee, knee, ankle)
    if layout.side_twists:
        _twists(bones, layout, side, "hip", name["hip"], hip, knee, truth)
        _twists(bones, layout, side, "knee", name["knee"], knee, ankle, truth)
    t[f"{s}_ankle"] = bones.add(name["ankle"], ik_root or name["knee"], ankle, ball)
    if ik_root:
        truth.detached += (f"{s}_ankle",)
    before_ball = name["ankle"]
    if "metatarsal" in layout.sided:
        before_ball = bones.add(_fill(layout.sided["metatarsal"], side), name["ankle"], (ankle + ball) / 2, ball)
    tip = ball + np.array([0.0, -0.07, 0.0])
    t[f"{s}_foot"] = bones.add(name["foot"], before_ball, ball, tip)
    if layout.toe_end:
        bones.add(_fill(layout.toe_end, side), name["foot"], tip, tip + np.array([0.0, -0.02, 0.0]))


def _arm(bones: _Bones, layout: _Layout, joints: dict[str, np.ndarray], side: tuple, chest: str, hands: bool,
         fingers: bool, ik_root: str | None, truth: BuiltRig) -> None:
    t, s = truth.truth, side[0]
    collar, shoulder, elbow, wrist = (joints[f"{s}_{p}"] for p in ("collar", "shoulder", "elbow", "wrist"))
    name = {p: _fill(layout.sided[p], side) for p in ("collar", "shoulder", "elbow", "wrist")}
    t[f"{s}_collar"] = bones.add(name["collar"], chest, collar, shoulder)
    upper_end = elbow if not layout.in_chain_twist else (shoulder + elbow) / 2
    t[f"{s}_shoulder"] = bones.add(name["shoulder"], name["collar"], shoulder, upper_end)
    above_elbow = name["shoulder"]
    if layout.in_chain_twist:
        above_elbow = bones.add(_fill(layout.sided["twist_shoulder"], side), name["shoulder"], upper_end, elbow)
        truth.twist[f"{s}_shoulder"] = (above_elbow,)
    fore_end = wrist if not layout.in_chain_twist else (elbow + wrist) / 2
    t[f"{s}_elbow"] = bones.add(name["elbow"], above_elbow, elbow, fore_end)
    last = name["elbow"]
    if layout.in_chain_twist:
        last = bones.add(_fill(layout.sided["twist_elbow"], side), name["elbow"], fore_end, wrist)
        truth.twist[f"{s}_elbow"] = (last,)
    if layout.side_twists:
        _twists(bones, layout, side, "shoulder", name["shoulder"], shoulder, elbow, truth)
        _twists(bones, layout, side, "elbow", name["elbow"], elbow, wrist, truth)
    if not hands:
        truth.tail_joints[f"{s}_wrist"] = last
        return
    along = (wrist - elbow) / np.linalg.norm(wrist - elbow)
    knuckles = wrist + along * 0.09
    t[f"{s}_wrist"] = bones.add(name["wrist"], ik_root or last, wrist, knuckles)
    if ik_root:
        truth.detached += (f"{s}_wrist",)
    if layout.hand_leaf:
        bones.add(_fill(layout.hand_leaf, side), name["wrist"], knuckles, knuckles + along * 0.08)
    if fingers:
        across = np.cross(along, np.array([0.0, 0.0, 1.0])) if abs(along[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
        for f, finger in enumerate(_FINGERS):
            start = (wrist + along * 0.03 if f == 0 else knuckles) + across * (f - 2) * 0.02
            parent = name["wrist"]
            for n in (1, 2, 3):
                head, tail = start + along * 0.03 * (n - 1), start + along * 0.03 * n
                parent = bones.add(_fill(layout.sided["finger"], side, f=finger, n=n), parent, head, tail)


def _create(scene: Any, bones: _Bones, name: str, to_armature: np.ndarray) -> Any:
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    scene.collection.objects.link(obj)
    layer = scene.view_layers[0]
    layer.objects.active = obj
    with bpy.context.temp_override(scene=scene, view_layer=layer, active_object=obj, object=obj, selected_objects=[obj]):
        bpy.ops.object.mode_set(mode="EDIT")  # edit bones exist only in edit mode
        edit = {}
        for bone, (_, head, tail) in bones.items.items():
            edit[bone] = data.edit_bones.new(bone)
            edit[bone].head = (to_armature @ np.append(head, 1.0))[:3].tolist()
            edit[bone].tail = (to_armature @ np.append(tail, 1.0))[:3].tolist()
        for bone, (parent, _, _) in bones.items.items():
            if parent is not None:
                edit[bone].parent = edit[parent]
        bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def _rename_randomly(built: BuiltRig, seed: int) -> None:
    """Every bone gets a random hex name, so nothing but the structure can say what it is."""
    rng = np.random.default_rng(seed)
    bones = built.armature.data.bones
    renamed = {b.name: f"b{rng.integers(0, 16 ** 8):08x}" for b in bones}
    for old, new in renamed.items():
        bones[old].name = new
    built.truth = {j: renamed[b] for j, b in built.truth.items()}
    built.tail_joints = {j: renamed[b] for j, b in built.tail_joints.items()}
    built.twist = {j: tuple(renamed[b] for b in bs) for j, bs in built.twist.items()}


def _add_ik(obj: Any, built: BuiltRig) -> None:
    """IK constraints on the shins (forearms) pointing at the detached feet (hands), as IK rigs have them."""
    for end in built.detached:
        knee = built.truth[end.replace("ankle", "knee").replace("wrist", "elbow")]
        constraint = obj.pose.bones[knee].constraints.new("IK")
        constraint.target, constraint.subtarget, constraint.chain_count = obj, built.truth[end], 2


def build_rig(scene: Any, style: str, pose: str = "T", names: str = "real", ik_feet: bool = False, ik_hands: bool = False,
              ik_constraints: bool = False, hands: bool = True, fingers: bool = False, cartoon: bool = False,
              parent: tuple[float, tuple[float, float, float]] | None = None, seed: int = 0) -> BuiltRig:
    """One armature of ``style`` in ``scene`` and its true map.

    ``names``: "real" or "random". ``parent``: (uniform scale, XYZ euler degrees) of an empty the armature
    is parented to; the bones are authored in the compensating frame, so the rig stands upright at human
    size in the world while its own axes and units are anything but.
    """
    if style == "rigify":
        built = BuiltRig(resolve_rig("rigify", scene, 0), {})
        built.truth = {j: c[0] for j, c in PRESETS["rigify"].items() if c[0] in built.armature.data.bones}
    else:
        layout = _LAYOUTS[style]
        built = BuiltRig(None, {})
        bones = _layout_bones(layout, _body(pose, cartoon), hands, fingers, ik_feet, ik_hands, cartoon, built)
        to_armature = np.eye(4)
        if parent is not None:
            scale, degrees = parent
            placed = Matrix.Diagonal((scale, scale, scale, 1.0)) @ Euler(np.radians(degrees).tolist()).to_matrix().to_4x4()
            to_armature = np.array(placed.inverted())
        built.armature = _create(scene, bones, f"{style}_{names}_{pose}", to_armature)
    if parent is not None:
        scale, degrees = parent
        empty = bpy.data.objects.new(f"{built.armature.name}_parent", None)
        scene.collection.objects.link(empty)
        empty.scale = (scale,) * 3
        empty.rotation_euler = np.radians(degrees).tolist()
        built.armature.parent = empty
        scene.view_layers[0].update()  # world matrices now include the parent
    if ik_constraints:
        _add_ik(built.armature, built)
    if names == "random":
        _rename_randomly(built, seed)
    return built


def skin(scene: Any, built: BuiltRig) -> Any:
    """A mesh with one triangle per bone, weighted to it: glTF only exports an armature that skins something."""
    obj = built.armature
    bones = obj.data.bones
    verts, faces = [], []
    for i, bone in enumerate(bones):
        head, tail = np.array(bone.head_local), np.array(bone.tail_local)
        side = np.cross(tail - head, (0.0, 0.0, 1.0) if abs((tail - head)[2]) < 0.9 * np.linalg.norm(tail - head) else (1.0, 0.0, 0.0))
        verts += [head.tolist(), tail.tolist(), (head + 0.1 * side).tolist()]
        faces.append((3 * i, 3 * i + 1, 3 * i + 2))
    mesh = bpy.data.meshes.new(f"{obj.name}_skin")
    mesh.from_pydata(verts, [], faces)
    body = bpy.data.objects.new(f"{obj.name}_skin", mesh)
    scene.collection.objects.link(body)
    body.parent = obj
    for i, bone in enumerate(bones):
        body.vertex_groups.new(name=bone.name).add([3 * i, 3 * i + 1, 3 * i + 2], 1.0, "REPLACE")
    modifier: Any = body.modifiers.new("Armature", "ARMATURE")
    modifier.object = obj
    return body


def export_copy(scene: Any, style: str, path: Path, **options: Any) -> BuiltRig:
    """A rig of ``style`` with random names, skinned and written to ``path`` by Blender's own exporter: glTF for
    ``.glb``, else FBX at centimetre scale (what tools that work in cm write)."""
    built = build_rig(scene, style, names="random", **options)
    body = skin(scene, built)
    with bpy.context.temp_override(selected_objects=[built.armature, body], active_object=built.armature):
        if path.suffix == ".glb":
            bpy.ops.export_scene.gltf(filepath=str(path), use_selection=False, export_animations=False)
        else:
            bpy.ops.export_scene.fbx(filepath=str(path), add_leaf_bones=False, global_scale=100.0,
                                     apply_unit_scale=False, bake_anim=False)
    return built
