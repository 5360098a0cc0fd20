"""Bone-map presets against the real bone names of the rig families animators bring, and the overrides."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from h4_scenes import DATA, fresh_scene, metarig
from mathutils import Matrix

from intermask_blender.rigs.bonemap import (
    ESSENTIAL_JOINTS,
    PRESETS,
    BoneMapError,
    bone_map_for,
    guess_bone_map,
    normalise,
    set_override,
)
from vendor_models.data.bvh import read_bvh
from vendor_models.motion.skeleton import JOINT_NAMES


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_recognises_its_own_names(preset: str) -> None:
    names = [candidates[0] for candidates in PRESETS[preset].values()]
    found = guess_bone_map("rig", names)
    assert found.bones == {joint: candidates[0] for joint, candidates in PRESETS[preset].items()}
    assert not found.missing_essential()


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([f"mixamorig1:{n}" for n in ("Hips", "LeftUpLeg", "LeftLeg")], {"pelvis": "mixamorig1:Hips", "left_hip": "mixamorig1:LeftUpLeg", "left_knee": "mixamorig1:LeftLeg"}),
        (["ORG-thigh.L", "DEF-thigh.L", "DEF-thigh.L.001", "thigh_fk.L"], {"left_hip": "DEF-thigh.L"}),
        (["Armature|CC_Base_L_Thigh", "CC_Base_R_Thigh"], {"left_hip": "Armature|CC_Base_L_Thigh", "right_hip": "CC_Base_R_Thigh"}),
        (["m_avg_L_Hip", "m_avg_R_Hip", "m_avg_Pelvis"], {"left_hip": "m_avg_L_Hip", "right_hip": "m_avg_R_Hip", "pelvis": "m_avg_Pelvis"}),
        (["Thigh_L", "Thigh_R"], {"left_hip": "Thigh_L", "right_hip": "Thigh_R"}),
        (["Hips", "LeftUpLeg2", "RightUpLeg2"], {"left_hip": "LeftUpLeg2", "right_hip": "RightUpLeg2"}),  # close spelling
        (["Hips", "RightUpLeg"], {"right_hip": "RightUpLeg", "left_hip": None}),  # never across sides
    ],
)
def test_names_match_across_prefixes_case_and_separators(names: list[str], expected: dict[str, str | None]) -> None:
    found = guess_bone_map("rig", names).bones
    for joint, bone in expected.items():
        assert found.get(joint) == bone, (joint, found)


def test_normalise_strips_tool_prefixes() -> None:
    assert normalise("mixamorig:LeftUpLeg") == normalise("LeftUpLeg") == "leftupleg"
    assert normalise("DEF-upper_arm.L") == normalise("ORG-upper_arm.L") == "upperarml"


def test_real_daz_salsa_skeleton_maps_every_essential_joint() -> None:
    names = read_bvh(DATA / "bvh_daz" / "01.bvh").joint_names
    found = guess_bone_map("salsa", list(names))
    assert found.preset == "daz_bvh"
    assert not found.missing_essential()
    assert found.bones["left_hip"] == "lThigh" and found.bones["right_wrist"] == "rHand"
    assert set(JOINT_NAMES) - set(found.bones) == {"spine3", "left_foot", "right_foot"}  # bridged by the solver


def test_real_iclone_skeleton_maps_all_22_joints() -> None:
    names = read_bvh(DATA / "single_iclone" / "005_01.bvh").joint_names
    found = guess_bone_map("iclone", list(names))
    assert found.preset == "character_creator"
    assert set(JOINT_NAMES) <= set(found.bones)
    assert found.bones["pelvis"] == "CC_Base_Hip" and found.bones["neck"] == "CC_Base_NeckTwist01"


def test_unmappable_bones_are_named() -> None:
    found = guess_bone_map("Props", ["Bone", "Bone.001", "hand.L", "hand.R"])
    with pytest.raises(BoneMapError) as info:
        found.require_essential()
    message = str(info.value)
    assert "'Props'" in message
    for joint in ESSENTIAL_JOINTS:
        if joint not in ("left_wrist", "right_wrist"):
            assert joint in message
    assert "left_wrist" not in message


def test_overrides_stored_on_the_armature_win_over_the_preset() -> None:
    scene = fresh_scene()
    rig = metarig(scene)
    assert bone_map_for(rig).bones["head"] == "spine.006"
    set_override(rig, "head", "spine.005")
    assert bone_map_for(rig).bones["head"] == "spine.005"
    assert rig.data.intermask_bone_map[0].joint == "head"  # on the armature data: saved with the .blend
    with pytest.raises(BoneMapError, match="no bone 'skull'"):
        set_override(rig, "head", "skull")
    with pytest.raises(BoneMapError, match="unknown joint 'tail'"):
        set_override(rig, "tail", "spine.005")


def test_structure_maps_a_bone_whose_name_says_nothing() -> None:
    scene = fresh_scene()
    rig = metarig(scene)
    rig.data.bones["thigh.L"].name = "leg_upper_left"
    assert bone_map_for(rig).bones["left_hip"] == "leg_upper_left"


def _swing_left_leg_forward(rig: bpy.types.Object, degrees: float) -> None:
    """Turn the metarig's whole left leg about its hip (edit bones: the rest pose itself changes)."""
    turn = Matrix.Rotation(np.radians(degrees), 3, "X")
    with bpy.context.temp_override(active_object=rig, object=rig, selected_objects=[rig]):
        bpy.context.view_layer.objects.active = rig
        bpy.ops.object.mode_set(mode="EDIT")
        bones = rig.data.edit_bones
        hip = bones["thigh.L"].head.copy()
        for name in ("thigh.L", "shin.L", "foot.L", "toe.L", "heel.02.L"):
            bones[name].head = hip + turn @ (bones[name].head - hip)
            bones[name].tail = hip + turn @ (bones[name].tail - hip)
        bpy.ops.object.mode_set(mode="OBJECT")


def test_override_can_rescue_an_unrecognised_rig() -> None:
    scene = fresh_scene()
    rig = metarig(scene)
    _swing_left_leg_forward(rig, -50.0)  # no longer the right leg's mirror image: structure cannot pair the legs
    rig.data.bones["thigh.L"].name = "leg_upper_left"
    with pytest.raises(BoneMapError, match="no bone found for left_hip") as info:
        bone_map_for(rig)
    assert "leg_upper_left" in str(info.value).split("Candidates:")[1]  # offered for the missing joint
    set_override(rig, "left_hip", "leg_upper_left")
    assert bone_map_for(rig).bones["left_hip"] == "leg_upper_left"
    assert isinstance(rig.data, bpy.types.Armature)
