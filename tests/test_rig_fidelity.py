"""What the real rigs need beyond the fidelity matrix (:mod:`test_rig_matrix`): RobotExpressive stands on
the grid it stood on after import (its root bone's default pose holds it 2.37 m above its rest) and its
IK-style feet travel with its shins; a twist bone turns with its segment; CesiumMan, without hand bones,
reads back with its wrists at its forearms' ends. Both real rigs are mapped by the add-on alone.
"""

from __future__ import annotations

from functools import lru_cache

import bpy
import numpy as np
import pytest
import rig_fidelity as rf
from h4_scenes import fresh_scene, mixamo_apose_cm_rig, salsa_clip

from intermask_blender.baking.bake import bake_clip
from intermask_blender.rigs.bonemap import BoneMap, bone_map_for
from intermask_blender.rigs.rig_rest import Placement
from vendor_models.motion.clip_file import Clip
from vendor_models.motion.skeleton import JOINT_INDEX


@lru_cache(maxsize=1)
def _salsa() -> Clip:
    return salsa_clip(300, start=0)


def _planted_lowest_foot_cm(rig: bpy.types.Object, scene: bpy.types.Scene, clip: Clip, person: int, start: int, floor: float) -> np.ndarray:
    """Height (cm) over ``floor`` of the lowest foot-bone point of each planted, still foot, through the depsgraph."""
    bone_map = bone_map_for(rig)
    out = []
    for frame in range(0, clip.num_frames, 3):
        scene.frame_set(start + frame)
        evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
        for channel, side in ((0, "left"), (2, "right")):
            ankle = clip.positions[:, person, JOINT_INDEX[f"{side}_ankle"]]
            still = np.linalg.norm(np.gradient(ankle, axis=0), axis=-1)[frame] < rf.STILL
            if clip.contacts[frame, person, channel] and still:
                bone = evaluated.pose.bones[bone_map.bones[f"{side}_ankle"]]
                out.append(min((evaluated.matrix_world @ p).z for p in (bone.head, bone.tail)) - floor)
    return np.array(out) * 100.0


def test_robot_stands_on_the_grid_it_stood_on_with_its_feet_at_its_ankles() -> None:
    """Imported, the robot stands on the grid (its root bone's default pose lifts it 2.37 m over its rest):
    baked, its planted feet stay on that grid, the floor is stored with the placement, and a re-bake (now
    from a baked pose) stands on the same floor. Its IK-style feet hang off the root bone: baked, each foot
    bone sits at the end of its shin, where the shin's rest pose has it, not where the root left it."""
    clip = _salsa().person(0)
    scene = fresh_scene()
    rig = rf.import_gltf(rf.ROBOT, scene)
    bone_map = bone_map_for(rig)
    shift = rf.standing_shift(rig, bone_map)
    evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
    grid = min((evaluated.matrix_world @ evaluated.pose.bones[b].head).z for b in ("FootL", "FootR"))
    assert shift == pytest.approx(2.37, abs=0.01) and abs(grid) < 0.05  # the premise: on the grid, 2.37 m up
    first = bake_clip(scene, clip, [rig], name="robot")
    stored = Placement.stored(rig)
    assert stored is not None and stored.floor_shift == pytest.approx(shift, abs=1e-4)
    heights = _planted_lowest_foot_cm(rig, scene, clip, 0, first.frame_start, grid)
    assert heights.size > 10 and np.abs(heights).max() < 3.0, heights
    scene.frame_set(first.frame_start + 137)  # a baked pose, one foot off the floor: not re-measured
    second = bake_clip(scene, clip, [rig], name="robot again")
    heights = _planted_lowest_foot_cm(rig, scene, clip, 0, second.frame_start, grid)
    assert heights.size > 10 and np.abs(heights).max() < 3.0, heights
    bones = rig.data.bones
    rest_gap = (bones["FootL"].head_local - bones["LowerLegL"].head_local).length
    for frame in (1, 100, 200):
        scene.frame_set(second.frame_start + frame)
        evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
        shin, foot = evaluated.pose.bones["LowerLegL"], evaluated.pose.bones["FootL"]
        assert (foot.head - shin.head).length == pytest.approx(rest_gap, rel=1e-3)  # the foot travels with the shin
        along = (shin.matrix.to_3x3() @ (bones["LowerLegL"].matrix_local.to_3x3().inverted() @ (bones["FootL"].head_local - bones["LowerLegL"].head_local)))
        assert (foot.head - shin.head - along).length < 1e-3 * rest_gap


def test_twist_bones_turn_with_their_segment() -> None:
    """A forearm twist bone that hangs off the upper arm (not the forearm) is carried by the forearm: it
    turns as the forearm does from rest, and its head stays at the elbow."""
    clip = _salsa().person(0)
    scene = fresh_scene()
    rig = mixamo_apose_cm_rig(scene, _salsa(), 0, "Twisty")
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    edit = rig.data.edit_bones
    forearm = edit["mixamorig:LeftForeArm"]
    twist = edit.new("mixamorig:LeftForeArmTwist")
    twist.head, twist.tail, twist.roll = forearm.head, (forearm.head + forearm.tail) / 2, forearm.roll + 0.7
    twist.parent = edit["mixamorig:LeftArm"]
    bpy.ops.object.mode_set(mode="OBJECT")
    base = bone_map_for(rig)
    bone_map = BoneMap(rig.name, base.bones, base.preset, twist={"left_elbow": ("mixamorig:LeftForeArmTwist",)})
    with rf.bone_maps({rig.name: bone_map}):
        bake_clip(scene, clip, [rig], name="twist")
    bones = rig.data.bones
    for frame in (1, 90, 200):
        scene.frame_set(frame)
        pose = rig.evaluated_get(bpy.context.evaluated_depsgraph_get()).pose.bones
        turns = [np.array(pose[n].matrix.to_3x3()) @ np.array(bones[n].matrix_local.to_3x3()).T
                 for n in ("mixamorig:LeftForeArm", "mixamorig:LeftForeArmTwist")]
        np.testing.assert_allclose(turns[1], turns[0], atol=1e-4)
        np.testing.assert_allclose(np.array(pose["mixamorig:LeftForeArmTwist"].head), np.array(pose["mixamorig:LeftForeArm"].head), atol=1e-3)
    assert not np.allclose(turns[0], np.eye(3), atol=0.1), "the forearm must have turned for this to show anything"


def test_a_rig_without_hand_bones_reads_back_with_its_wrists_at_the_forearms_ends() -> None:
    """Reaction mode reads a partner back: CesiumMan's wrists are its forearms' tails, and what is read is
    what was baked (the clip's hips and directions)."""
    from intermask_blender.rigs import read_armature

    clip = _salsa()
    scene = fresh_scene()
    rigs = rf.real_pair(scene, rf.CESIUM_MAN)
    bake_clip(scene, clip, rigs, name="cesium")
    back = read_armature.read_clip(rigs[0], scene, 1, 120)
    for joint, child in (("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"), ("left_knee", "left_ankle")):
        a, b = JOINT_INDEX[joint], JOINT_INDEX[child]
        got, want = back.positions[:, 0, b] - back.positions[:, 0, a], clip.positions[:120, 0, b] - clip.positions[:120, 0, a]
        cos = np.sum(got * want, -1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)
        assert np.median(np.degrees(np.arccos(np.clip(cos, -1, 1)))) < 2.0, joint
