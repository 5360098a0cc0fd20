"""A bake follows the clip faithfully on rigs of any proportions, rest pose, bone roll and parenting.

Two real third-party rigs (RobotExpressive: cartoon proportions, legs under ``Body``, IK-style feet under
the root bone, bones 2.4 m below its origin, a scaled and rotated armature; CesiumMan: unnamed bones, an
A-pose with bent knees, no hand bones, facing +X under a rotated parent), Rigify's metarig and a Mixamo-
style A-pose centimetre rig, each baked with a real CMU salsa pair and a pair the shipped model generates,
measured through the depsgraph by :mod:`rig_fidelity`. Maps of the two real rigs are written by hand here
until mapping by structure lands.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pytest
import rig_fidelity as rf
from h4_scenes import fresh_scene, metarig, mixamo_apose_cm_rig, salsa_clip

from intermask_blender.rigs.bonemap import BoneMap, bone_map_for
from vendor_models.motion.clip_file import Clip


@lru_cache(maxsize=2)
def _clip(kind: str) -> Clip:
    return salsa_clip(300, start=0) if kind == "salsa" else rf.generated_clip()


def _rigs(kind: str, scene: Any, clip: Clip) -> tuple[list[Any], dict[str, BoneMap]]:
    if kind == "robot":
        return rf.real_pair(scene, rf.ROBOT, rf.robot_map)
    if kind == "cesium":
        return rf.real_pair(scene, rf.CESIUM_MAN, rf.cesium_man_map)
    rigs = [metarig(scene), metarig(scene)] if kind == "metarig" else [mixamo_apose_cm_rig(scene, clip, p, f"Mixamo_{p}") for p in range(2)]
    return rigs, {r.name: bone_map_for(r) for r in rigs}


@pytest.mark.parametrize("clip_kind", ["salsa", "generated"])
@pytest.mark.parametrize("rig_kind", ["robot", "cesium", "metarig", "mixamo"])
def test_bake_keeps_directions_hip_height_and_planted_feet(rig_kind: str, clip_kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    clip = _clip(clip_kind)
    scene = fresh_scene()
    rigs, maps = _rigs(rig_kind, scene, clip)
    for fidelity in rf.bake_and_measure(scene, clip, rigs, maps):
        with capsys.disabled():
            print(f"\n{clip_kind} {rig_kind}: {fidelity.line()}")
        assert fidelity.direction_median < 6.0 and fidelity.direction_p95 < 20.0, fidelity.line()
        assert np.all(np.abs(fidelity.pelvis_ratio - 1.0) < 0.15), fidelity.line()
        if fidelity.planted_cm.size:
            assert np.percentile(fidelity.planted_cm, 95) < 3.0, fidelity.line()
        assert fidelity.head_median < 20.0, fidelity.line()  # upright where the clip's head is


def test_robot_stands_on_its_own_floor_with_its_feet_at_its_ankles() -> None:
    """The robot's IK-style feet hang off the root bone: baked, each foot bone sits at the end of its shin
    (where the shin's rest pose has it), not where the root left it, and the hips stand over its floor."""
    clip = _clip("salsa")
    scene = fresh_scene()
    rigs, maps = rf.real_pair(scene, rf.ROBOT, rf.robot_map)
    with rf.bone_maps(maps):
        from intermask_blender.baking.bake import bake_clip

        bake_clip(scene, clip, rigs, name="robot")
    import bpy

    rig = rigs[0]
    bones = rig.data.bones
    rest_gap = (bones["FootL"].head_local - bones["LowerLegL"].head_local).length
    for frame in (1, 100, 200):
        scene.frame_set(frame)
        evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
        shin, foot = evaluated.pose.bones["LowerLegL"], evaluated.pose.bones["FootL"]
        gap = (foot.head - shin.head).length
        assert gap == pytest.approx(rest_gap, rel=1e-3)  # the foot travels with the shin
        along = (shin.matrix.to_3x3() @ (bones["LowerLegL"].matrix_local.to_3x3().inverted() @ (bones["FootL"].head_local - bones["LowerLegL"].head_local)))
        assert (foot.head - shin.head - along).length < 1e-3 * rest_gap


def test_twist_bones_turn_with_their_segment() -> None:
    """A forearm twist bone that hangs off the upper arm (not the forearm) is carried by the forearm: it
    turns as the forearm does from rest, and its head stays at the elbow."""
    import bpy

    from intermask_blender.baking.bake import bake_clip

    clip = _clip("salsa").person(0)
    scene = fresh_scene()
    rig = mixamo_apose_cm_rig(scene, _clip("salsa"), 0, "Twisty")
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


def test_a_rig_without_hand_bones_reads_back_with_its_wrists_at_the_forearms_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reaction mode reads a partner back: CesiumMan's wrists are its forearms' tails, and what is read is
    what was baked (the clip's hips and directions)."""
    from intermask_blender.rigs import read_armature
    from vendor_models.motion.skeleton import JOINT_INDEX

    clip = _clip("salsa")
    scene = fresh_scene()
    rigs, maps = rf.real_pair(scene, rf.CESIUM_MAN, rf.cesium_man_map)
    rf.bake_and_measure(scene, clip, rigs, maps)
    monkeypatch.setattr(read_armature, "bone_map_for", lambda obj, reading=False: maps[obj.name])
    back = read_armature.read_clip(rigs[0], scene, 1, 120)
    for joint, child in (("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"), ("left_knee", "left_ankle")):
        a, b = JOINT_INDEX[joint], JOINT_INDEX[child]
        got, want = back.positions[:, 0, b] - back.positions[:, 0, a], clip.positions[:120, 0, b] - clip.positions[:120, 0, a]
        cos = np.sum(got * want, -1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)
        assert np.median(np.degrees(np.arccos(np.clip(cos, -1, 1)))) < 2.0, joint
