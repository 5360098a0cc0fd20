"""Bone maps of rigs whose names say nothing: found by structure, checked, and explained when they cannot be.

Every rig is real Blender data: built by ``rig_factory`` with bpy (Rigify's metarig by the rigify add-on)
or imported by Blender's glTF importer (RobotExpressive, CesiumMan). Each must map with no override to
the map it truly has, left and right included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy
import numpy as np
import pytest
from h4_scenes import fresh_scene
from mathutils import Matrix
from rig_factory import STYLES, build_rig, export_copy

from intermask_blender.rigs.bone_tree import BoneTree, bone_tree_of
from intermask_blender.rigs.bonemap import BoneMapError, bone_map_for, set_override
from intermask_blender.rigs.map_checks import map_problems
from intermask_blender.rigs.structure_map import name_side, structure_map

RIGS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rigs"

CASES: list[tuple[str, dict[str, Any]]] = [(style, {"names": names}) for style in STYLES for names in ("real", "random")]
CASES += [
    ("mixamo", {"names": "random", "pose": "A", "cartoon": True, "ik_feet": True, "parent": (0.01, (90.0, 0.0, 35.0))}),
    ("mixamo", {"names": "real", "ik_feet": True}),
    ("mixamo", {"names": "random", "hands": False, "cartoon": True}),
    ("ue4", {"names": "random", "pose": "A", "fingers": True, "parent": (0.01, (0.0, 0.0, 90.0))}),
    ("ue4", {"names": "real", "pose": "A", "fingers": True}),
    ("ue5", {"names": "random", "cartoon": True, "fingers": True}),
    ("character_creator", {"names": "random", "pose": "A", "fingers": True, "parent": (100.0, (0.0, 0.0, 180.0))}),
    ("character_creator", {"names": "real", "hands": False}),
    ("daz", {"names": "random", "pose": "A", "fingers": True, "cartoon": True}),
    ("daz", {"names": "random", "hands": False}),
    ("smpl", {"names": "random", "ik_feet": True, "ik_constraints": True}),
    ("vrm", {"names": "random", "pose": "A", "hands": False}),
    ("vrm", {"names": "random", "ik_feet": True, "fingers": True, "parent": (2.0, (-90.0, 0.0, 0.0))}),
    ("rigify", {"names": "random", "parent": (0.01, (0.0, 0.0, 45.0))}),
    ("mixamo", {"names": "random", "ik_feet": True, "ik_hands": True, "fingers": True, "pose": "A"}),
    ("smpl", {"names": "real", "ik_hands": True, "ik_constraints": True}),
]


@pytest.fixture(scope="module", autouse=True)
def _fresh_file() -> None:
    fresh_scene()


@pytest.fixture
def scene() -> bpy.types.Scene:
    """The current scene (a test that resets the file leaves a new one; the rigs pile up otherwise)."""
    current = bpy.context.scene
    assert current is not None
    return current


def _assert_maps_truly(obj: Any, truth: dict[str, str], detached: tuple[str, ...], tail_joints: dict[str, str],
                       twist: dict[str, tuple[str, ...]]) -> None:
    found = bone_map_for(obj)
    wrong = {j: (found.bones.get(j), b) for j, b in truth.items() if found.bones.get(j) != b}
    assert not wrong, f"joint: (found, true) {wrong}"
    assert set(found.bones) == set(truth), set(found.bones) ^ set(truth)
    assert set(found.detached) == set(detached)
    assert found.tail_joints == tail_joints
    assert found.twist == twist
    assert not found.overridden


@pytest.mark.parametrize(("style", "options"), CASES, ids=[f"{s}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for s, o in CASES])
def test_factory_rig_maps_to_its_true_map_without_override(scene: bpy.types.Scene, style: str, options: dict[str, Any]) -> None:
    built = build_rig(scene, style, seed=len(bpy.data.objects), **options)
    _assert_maps_truly(built.armature, built.truth, built.detached, built.tail_joints, built.twist)


def test_factory_rigs_stand_upright_at_human_size_whatever_their_parents(scene: bpy.types.Scene) -> None:
    """The parent compensation really makes the bones' own frame differ from the world's (or the rigs
    above would not test "left/right in the rig's own frame")."""
    built = build_rig(scene, "mixamo", names="random", parent=(0.01, (90.0, 0.0, 35.0)))
    obj = built.armature
    head = obj.matrix_world @ obj.data.bones[built.truth["head"]].head_local
    left_hip = obj.matrix_world @ obj.data.bones[built.truth["left_hip"]].head_local
    assert 1.3 < head.z < 1.9
    local = obj.data.bones[built.truth["head"]].head_local
    assert local.y > 100.0 and abs(local.z) < 10.0  # its own space: Y up, centimetres
    assert (left_hip - obj.matrix_world.translation).length < 1.5


EXPORTED = [("mixamo", "glb", {"fingers": True}), ("ue5", "fbx", {"pose": "A"}), ("daz", "glb", {"hands": False}),
            ("vrm", "fbx", {"ik_feet": True, "cartoon": True}), ("character_creator", "glb", {"fingers": True})]


@pytest.mark.parametrize(("style", "kind", "options"), EXPORTED, ids=[f"{s}-{k}" for s, k, _ in EXPORTED])
def test_copies_written_by_blenders_exporters_still_map(tmp_path: Path, style: str, kind: str, options: dict[str, Any]) -> None:
    """Blender's own glTF and FBX (centimetre) exporters and importers: bone tails and rolls are made up
    on the way back, only heads and the hierarchy survive, and the random names must still map."""
    path = tmp_path / f"rig.{kind}"
    built = export_copy(fresh_scene(), style, path, **options)
    scene = fresh_scene()
    with bpy.context.temp_override(scene=scene):
        if kind == "glb":
            bpy.ops.import_scene.gltf(filepath=str(path))
        else:
            bpy.ops.import_scene.fbx(filepath=str(path))
    (armature,) = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    _assert_maps_truly(armature, built.truth, built.detached, built.tail_joints, built.twist)


def _import_gltf(scene: bpy.types.Scene, path: Path) -> Any:
    before = set(bpy.data.objects)
    with bpy.context.temp_override(scene=scene):
        bpy.ops.import_scene.gltf(filepath=str(path))
    (armature,) = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"]
    return armature


def test_robot_expressive_maps_with_detached_feet_and_palm_wrists(scene: bpy.types.Scene) -> None:
    """Legs hang off Body (not Hips), the IK feet off the root bone, and a hand is three palm bones. Hips
    starts below Body's head: mapped, it would turn the pelvis upside down, so it stays unmapped."""
    robot = _import_gltf(scene, RIGS / "RobotExpressive.glb")
    truth = {"root": "Bone", "pelvis": "Body", "spine1": "Abdomen", "spine3": "Torso_1", "neck": "Neck", "head": "Head"}
    for side, s in (("left", "L"), ("right", "R")):
        truth.update({f"{side}_hip": f"UpperLeg{s}", f"{side}_knee": f"LowerLeg{s}", f"{side}_ankle": f"Foot{s}",
                      f"{side}_collar": f"Shoulder{s}", f"{side}_shoulder": f"UpperArm{s}", f"{side}_elbow": f"LowerArm{s}",
                      f"{side}_wrist": f"Palm2{s}"})
    _assert_maps_truly(robot, truth, ("left_ankle", "right_ankle"), {}, {})
    world = np.array(robot.matrix_world)
    left = world[:3, :3] @ np.array(robot.data.bones["UpperLegL"].head_local) + world[:3, 3]
    assert left[0] > 0.1  # the robot faces -Y: its left is +X
    set_override(robot, "spine1", "Hips")
    with pytest.raises(BoneMapError, match="spine1 'Hips' starts below pelvis 'Body'"):
        bone_map_for(robot)


def test_cesium_man_maps_by_structure_with_forearm_tails_as_wrists(scene: bpy.types.Scene) -> None:
    """Nameless bones (Node_2 … Node_20), facing +X: left is +Y; three bones per arm and no hands."""
    man = _import_gltf(scene, RIGS / "cesiumman" / "CesiumMan.gltf")
    truth = {"pelvis": "Node_2", "spine1": "Node_11", "spine3": "Node_12", "neck": "Node_19", "head": "Node_20"}
    for side, leg, arm in (("left", 7, 16), ("right", 3, 13)):
        truth.update({f"{side}_{j}": f"Node_{leg + i}" for i, j in enumerate(("hip", "knee", "ankle", "foot"))})
        truth.update({f"{side}_{j}": f"Node_{arm + i}" for i, j in enumerate(("collar", "shoulder", "elbow"))})
    _assert_maps_truly(man, truth, (), {"left_wrist": "Node_18", "right_wrist": "Node_15"}, {})
    hip = man.matrix_world @ man.data.bones["Node_7"].head_local
    assert hip.y > 0.03


def _mixamo(scene: bpy.types.Scene) -> Any:
    return build_rig(scene, "mixamo", names="real").armature


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"pelvis": "mixamorig:Spine"}, "left_hip 'mixamorig:LeftUpLeg' is not below pelvis 'mixamorig:Spine'"),
        ({"left_knee": "mixamorig:LeftUpLeg", "left_hip": "mixamorig:LeftLeg"}, "left_knee 'mixamorig:LeftUpLeg' is not below left_hip"),
        ({"left_knee": "mixamorig:RightLeg", "right_knee": "mixamorig:RightLeg"}, "bone 'mixamorig:RightLeg' plays both"),
        ({f"{a}_{j}": f"mixamorig:{b}{m}" for a, b in (("left", "Right"), ("right", "Left"))
          for j, m in (("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"), ("collar", "Shoulder"),
                       ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"))}, "left and right are swapped"),
        ({"root": "mixamorig:Head"}, "root 'mixamorig:Head' is not above pelvis"),
    ],
    ids=["hips-not-above-legs", "knee-above-hip", "bone-twice", "left-right-swapped", "root-not-above"],
)
def test_broken_overrides_are_rejected_with_what_is_wrong(scene: bpy.types.Scene, overrides: dict[str, str], says: str) -> None:
    rig = _mixamo(scene)
    for joint, bone in overrides.items():
        set_override(rig, joint, bone)
    with pytest.raises(BoneMapError, match="cannot be retargeted") as info:
        bone_map_for(rig)
    assert says in str(info.value)
    assert "overridden:" in str(info.value)


def _tree_without_bpy(tree: BoneTree) -> BoneTree:
    """A plain copy: the checks and the search read nothing but these arrays."""
    return BoneTree(list(tree.names), tree.parents.copy(), tree.heads.copy(), tree.tails.copy())


def test_checks_catch_a_knee_above_its_hip_in_the_rest_pose(scene: bpy.types.Scene) -> None:
    built = build_rig(scene, "ue4", names="real")
    tree = _tree_without_bpy(bone_tree_of(built.armature))
    assert map_problems(tree, built.truth) == []
    knee = tree.index[built.truth["left_knee"]]
    tree.heads[knee] += np.array([0.0, 0.0, 1.2])  # the rest knee lifted above the hip
    assert "left_knee 'calf_l' is not below left_hip 'thigh_l'" in map_problems(tree, built.truth)


def test_structure_search_runs_on_plain_arrays(scene: bpy.types.Scene) -> None:
    built = build_rig(scene, "daz", names="random", fingers=True)
    found = structure_map(_tree_without_bpy(bone_tree_of(built.armature)))
    assert found.bones == built.truth and not found.problems


def _turn_in_rest(rig: Any, bone: str, axis: str, radians: float) -> None:
    """Turn a bone and everything below it about its head in the rest pose (edit bones)."""
    turn = np.array(Matrix.Rotation(radians, 3, axis))
    bpy.context.view_layer.objects.active = rig
    with bpy.context.temp_override(active_object=rig, object=rig, selected_objects=[rig]):
        bpy.ops.object.mode_set(mode="EDIT")
        top = rig.data.edit_bones[bone]
        pivot = np.array(top.head)
        for edit in (top, *top.children_recursive):
            edit.head, edit.tail = ((pivot + turn @ (np.array(p) - pivot)).tolist() for p in (edit.head, edit.tail))
        bpy.ops.object.mode_set(mode="OBJECT")


def _candidates(message: str) -> dict[str, list[str]]:
    listed = message.split("Candidates:")[1].split(". Set")[0].split(";")
    return {joint.strip(): bones.split(", ") for joint, bones in (part.split(": ", 1) for part in listed)}


def test_unmappable_rig_lists_what_mapped_what_did_not_and_candidates(scene: bpy.types.Scene) -> None:
    """Random names and one arm lowered 70° in the rest pose: no mirror-image arms, so no body; the legs
    still map, and the message offers the bones below the pelvis for the rest."""
    built = build_rig(scene, "mixamo", names="random", seed=4)
    _turn_in_rest(built.armature, built.truth["left_shoulder"], "Y", 1.2)
    with pytest.raises(BoneMapError) as info:
        bone_map_for(built.armature)
    message = str(info.value)
    for joint in ("pelvis", "left_hip", "right_knee", "left_ankle"):
        assert f"{joint}={built.truth[joint]}" in message
    assert "no bone found for left_shoulder, right_shoulder, left_elbow, right_elbow, left_wrist, right_wrist, " \
           "spine1/spine2/spine3, neck/head." in message
    candidates = _candidates(message)
    assert set(candidates) == {"left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
                               "spine1", "spine2", "spine3", "neck", "head"}
    assert candidates["spine1"][0] == built.truth["spine1"] and built.truth["spine3"] in candidates["left_shoulder"]


@pytest.mark.parametrize(("name", "side"), [("thigh.L", "left"), ("UpperLegR", "right"), ("CC_Base_L_Thigh", "left"),
                                            ("mixamorig:LeftArm", "left"), ("lThighBend", "left"), ("b7f3a9c2", None),
                                            ("upperarm_r", "right"), ("Spine", None), ("Ribs", None), ("Root", None)])
def test_side_markers_in_names(name: str, side: str | None) -> None:
    assert name_side(name) == side
