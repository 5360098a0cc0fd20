"""Baking a real salsa pair onto real rigs: where the evaluated joints land, and what happens to the scene.

Joint positions are read from Blender's depsgraph (what the animator sees), never from our own solver,
except where a test checks the solver's prediction against Blender on purpose.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest
from h4_scenes import (
    SALSA_A,
    SALSA_B,
    daz_bvh_rig,
    fresh_scene,
    generated_rigify,
    joint_world_positions,
    metarig,
    mixamo_apose_cm_rig,
    salsa_clip,
    ue4_rig_with_root,
)
from rig_fidelity import measure

from intermask_blender.baking.bake import BakeError, bake_clip
from intermask_blender.rigs.bonemap import PRESETS, bone_map_for
from intermask_blender.rigs.mannequin import COLOURS, NAMES
from intermask_blender.rigs.read_armature import read_clip
from intermask_blender.rigs.retarget import Retargeter, retarget, retarget_people
from intermask_blender.rigs.rig_rest import Placement, rig_rest
from intermask_blender.rigs.rig_specs import resolve_rig
from vendor_models.motion.clip_file import Clip, ClipError
from vendor_models.motion.skeleton import JOINT_INDEX, JOINT_NAMES, PARENTS

FRAMES = 150


def _errors(obj: bpy.types.Object, scene: bpy.types.Scene, clip: Clip, person: int, start: int, step: int = 3) -> dict[str, np.ndarray]:
    """Per joint: distance (m) of the evaluated bone head from the scaled clip joint, every ``step`` keys."""
    keys = np.arange(0, clip.num_frames, step)
    got = joint_world_positions(obj, scene, (start + keys).tolist())
    goal = Placement.stored(obj).to_world(clip.positions[keys, person])
    return {j: np.linalg.norm(got[j] - goal[:, JOINT_INDEX[j]], axis=-1) for j in got if j in JOINT_INDEX}


def _all(errors: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate(list(errors.values()))


def test_apose_centimetre_mixamo_rig_lands_on_the_clip_joints() -> None:
    clip = salsa_clip(FRAMES)
    scene = fresh_scene()
    rigs = [mixamo_apose_cm_rig(scene, clip, p, f"Mixamo_{p}") for p in range(2)]
    report = bake_clip(scene, clip, rigs, name="salsa dance")
    assert report.frames == FRAMES and report.fps == 30.0 and report.frame_start == 1
    for person, rig in enumerate(rigs):
        errors = _all(_errors(rig, scene, clip, person, report.frame_start))
        assert np.median(errors) < 0.02 and np.percentile(errors, 95) < 0.05, (np.median(errors), np.percentile(errors, 95))
        assert Placement.stored(rig).scale == pytest.approx(1.1, rel=0.02)  # the rig is 10 % taller than the dancer


def _bone_length_mismatch(rig: bpy.types.Object, clip: Clip, person: int) -> dict[str, float]:
    """Per clip bone ("parent-child"): |rig bone length - scaled clip bone length| (m, clip's median)."""
    rest = rig_rest(rig, bone_map_for(rig))
    _, heads = rest.rest_world()
    scale = Placement.stored(rig).scale
    out = {}
    for child, parent in enumerate(PARENTS):
        a, b = JOINT_NAMES[parent] if parent >= 0 else "", JOINT_NAMES[child]
        if a in rest.joints and b in rest.joints:
            rig_length = np.linalg.norm(heads[rest.joints[b]] - heads[rest.joints[a]])
            clip_length = scale * np.median(np.linalg.norm(clip.positions[:, person, child] - clip.positions[:, person, parent], axis=-1))
            out[f"{a}-{b}"] = float(abs(rig_length - clip_length))
    return out


def test_rigify_metarig_pair(capsys: pytest.CaptureFixture[str]) -> None:
    """Rigify's proportions differ from the CMU dancer's (scaled to the rig's legs, Rigify's thigh is
    9 cm longer and its shin 9 cm shorter, its hips-to-spine.001 10 cm shorter): no rigid-bone pose can
    put every joint on its scaled goal, so the bake keeps the clip's limb directions and stands the hips on
    the clip's hips; joints then sit where Rigify's own bones put them (printed). Every bone must point
    along the clip's direction to its child, the hips' midpoint must be the clip's (lower only by the few
    millimetres a planted foot its leg cannot reach needs), and Blender must agree with the solver to 1 mm."""
    clip = salsa_clip(FRAMES)
    scene = fresh_scene()
    rigs = [metarig(scene), metarig(scene)]
    report = bake_clip(scene, clip, rigs, name="salsa dance")
    placements = [Placement.stored(rig) for rig in rigs]
    predicted = retarget_people(clip, [rig_rest(rig, bone_map_for(rig)) for rig in rigs], placements)
    for person, rig in enumerate(rigs):
        every = _all(_errors(rig, scene, clip, person, report.frame_start))
        mismatch = _bone_length_mismatch(rig, clip, person)
        worst = sorted(mismatch, key=mismatch.get)[-3:]  # type: ignore[arg-type]
        with capsys.disabled():
            print(f"\nrigify person {person}: all joints median {np.median(every) * 100:.1f} cm, p95 {np.percentile(every, 95) * 100:.1f} cm;"
                  " bones longer or shorter than the scaled dancer's: " + ", ".join(f"{b} {mismatch[b] * 100:.1f} cm" for b in worst))
        for joint, bone in bone_map_for(rig).bones.items():
            frames = [report.frame_start, report.frame_start + 77]
            got = joint_world_positions(rig, scene, frames)[joint]
            expected = predicted[person].heads[[0, 77], predicted[person].bone_names.index(bone)]
            np.testing.assert_allclose(got, expected, atol=1e-3, err_msg=joint)
        got = joint_world_positions(rig, scene, list(range(1, FRAMES, 5)))
        goal = placements[person].to_world(clip.positions[::5, person])
        hips = [JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]
        centre = (got["left_hip"] + got["right_hip"]) / 2
        np.testing.assert_allclose(centre[:, :2], goal[:, hips].mean(axis=1)[:, :2], atol=1e-3)
        drop = goal[:, hips].mean(axis=1)[:, 2] - centre[:, 2]
        assert drop.min() > -1e-3 and drop.max() < 0.01 and np.median(drop) < 1e-3, drop
        for joint, child in (("spine1", "spine2"), ("left_collar", "left_shoulder"), ("right_elbow", "right_wrist"), ("neck", "head")):
            bone_dir = got[child] - got[joint]
            clip_dir = goal[:, JOINT_INDEX[child]] - goal[:, JOINT_INDEX[joint]]
            cos = np.sum(bone_dir * clip_dir, -1) / np.linalg.norm(bone_dir, axis=-1) / np.linalg.norm(clip_dir, axis=-1)
            assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0, joint


def test_generated_rigify_rig_is_keyed_on_its_fk_controls() -> None:
    """A generated Rigify rig moves through its controls; its ORG-/DEF- bones follow them by constraints.
    The bake keys the FK controls and torso (limbs switched to FK in the action itself), and Blender's
    evaluated ORG skeleton, which drives the deform bones, is where the solver put every joint, to 1 mm."""
    clip = salsa_clip(FRAMES).person(0)
    scene = fresh_scene()
    rig = generated_rigify(scene)
    report = bake_clip(scene, clip, [rig], name="salsa dance")
    assert not report.warnings, report.warnings
    bone_map = bone_map_for(rig)
    assert bone_map.preset == "rigify_controls" and bone_map.bones["left_shoulder"] == "upper_arm_fk.L"
    fcurves = rig.animation_data.action.layers[0].strips[0].channelbags[0].fcurves
    keyed = {fc.data_path.split('"')[1] for fc in fcurves}
    assert {"torso", "shoulder.L", "upper_arm_fk.R", "hand_fk.L", "thigh_fk.R", "toe_fk.L", "neck", "head"} <= keyed
    assert not [n for n in keyed if n.startswith("DEF-") or rig.pose.bones[n].constraints], "keys on constrained bones"
    switch = fcurves.find('pose.bones["upper_arm_parent.L"]["IK_FK"]')
    assert switch is not None and switch.evaluate(1) == 1.0, "the arm must be in FK to follow its FK controls"

    frames = [1, 40, 77, 120]
    solver = Retargeter(rig_rest(rig, bone_map))
    placement = Placement.stored(rig)
    predicted = retarget(clip, solver.rig, placement)
    org = {joint: "ORG-" + PRESETS["rigify"][joint][0] for joint in bone_map.bones if joint != "root"}
    for i, frame in enumerate(frames):
        scene.frame_set(frame)
        evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
        for joint, bone in org.items():
            got = np.array(evaluated.matrix_world @ evaluated.pose.bones[bone].head)
            expected = (predicted.joints[frame - 1, JOINT_INDEX["pelvis"]] if joint == "pelvis"
                        else predicted.heads[frame - 1, predicted.bone_names.index(bone_map.bones[joint])])
            np.testing.assert_allclose(got, expected, atol=1e-3, err_msg=f"{joint} at frame {frame}")
    back = read_clip(rig, scene, 1, FRAMES)
    ends = [JOINT_INDEX[j] for j in ("pelvis", "left_wrist", "right_wrist", "left_ankle", "right_ankle", "neck")]
    baked = placement.to_model(predicted.joints)  # where the rig's own bones put the joints
    error = np.linalg.norm(back.positions[:, 0, ends] - baked[: back.num_frames, ends], axis=-1)
    assert np.median(error) < 0.01 and np.percentile(error, 95) < 0.05, (np.median(error), np.percentile(error, 95))

    # The animator switches the left arm to IK and drags its hand: the pose is read from what deforms.
    switch.mute = True
    rig.pose.bones["upper_arm_parent.L"]["IK_FK"] = 0.0
    rig.pose.bones["hand_ik.L"].location = (0.0, 0.3, -0.1)
    back = read_clip(rig, scene, 40, 40)
    scene.frame_set(40)
    evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
    hand, fk_hand = (np.array(evaluated.matrix_world @ evaluated.pose.bones[n].head) for n in ("ORG-hand.L", "hand_fk.L"))
    assert np.linalg.norm(hand - fk_hand) > 0.05, "the IK hand must be somewhere else than the FK hand"
    np.testing.assert_allclose(placement.to_world(back.positions[0, 0, JOINT_INDEX["left_wrist"]]), hand, atol=1e-3)


def test_bvh_rig_keeps_its_own_action_in_the_nla_stack(tmp_path: Path) -> None:
    clip = salsa_clip(FRAMES)
    scene = fresh_scene()
    rigs = [daz_bvh_rig(scene, tmp_path, SALSA_A), daz_bvh_rig(scene, tmp_path, SALSA_B)]
    old = rigs[0].animation_data.action
    old_keys = sum(len(fc.keyframe_points) for fc in old.layers[0].strips[0].channelbags[0].fcurves)
    report = bake_clip(scene, clip, rigs, name="salsa dance")
    adt = rigs[0].animation_data
    assert adt.action.name == report.actions[0] == "salsa dance - 01"
    assert adt.action_slot is not None and adt.action_slot.target_id_type == "OBJECT"
    strips = [s for track in adt.nla_tracks for s in track.strips]
    assert [s.action for s in strips] == [old]
    assert sum(len(fc.keyframe_points) for fc in old.layers[0].strips[0].channelbags[0].fcurves) == old_keys
    assert rigs[0].pose.bones["lThigh"].rotation_mode != "QUATERNION"  # Euler bones get Euler keys
    paths = {fc.data_path for fc in adt.action.layers[0].strips[0].channelbags[0].fcurves}
    assert 'pose.bones["lThigh"].rotation_euler' in paths and 'pose.bones["hip"].location' in paths
    for person, rig in enumerate(rigs):
        errors = _all(_errors(rig, scene, clip, person, report.frame_start))
        assert np.median(errors) < 0.02 and np.percentile(errors, 95) < 0.05


def test_scene_fps_24_resamples_and_keys_start_at_the_current_frame() -> None:
    clip = salsa_clip(FRAMES)
    scene = fresh_scene(fps=24)
    scene.frame_set(37)
    rigs = [mixamo_apose_cm_rig(scene, clip, p, f"Mixamo_{p}") for p in range(2)]
    report = bake_clip(scene, clip, rigs, name="salsa dance")
    assert report.frame_start == 37 and report.fps == 24.0
    assert report.frames == int((FRAMES - 1) * 24 / 30) + 1
    fcurve = bpy.data.actions[report.actions[0]].layers[0].strips[0].channelbags[0].fcurves[0]
    assert fcurve.keyframe_points[0].co[0] == 37 and fcurve.keyframe_points[-1].co[0] == report.frame_end
    assert scene.frame_end >= report.frame_end
    # scene frame 37 + k shows clip time k / 24 s: compare on frames where that is a whole 30 fps frame
    keys = np.arange(0, report.frames, 4)  # k = 4 n ↔ clip frame 5 n
    got = joint_world_positions(rigs[1], scene, (37 + keys).tolist())
    goal = Placement.stored(rigs[1]).to_world(clip.positions[keys * 30 // 24, 1])
    errors = np.concatenate([np.linalg.norm(got[j] - goal[:, JOINT_INDEX[j]], axis=-1) for j in got])
    assert np.median(errors) < 0.02 and np.percentile(errors, 95) < 0.05


def test_unmappable_armature_is_refused_naming_the_missing_joints() -> None:
    scene = fresh_scene()
    armature = bpy.data.objects.new("Crane", bpy.data.armatures.new("Crane"))
    scene.collection.objects.link(armature)
    bpy.context.view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    for name in ("mast", "jib", "hook"):
        armature.data.edit_bones.new(name).tail = (0, 0, 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    with pytest.raises(BakeError, match=r"'Crane' cannot be retargeted: no bone found for pelvis, left_hip, .*left_wrist"):
        bake_clip(scene, salsa_clip(10).person(0), [armature], name="x")
    assert armature.animation_data is None


def test_non_uniform_scale_is_refused_with_the_fix_and_the_scene_untouched() -> None:
    clip = salsa_clip(10)
    scene = fresh_scene()
    rig = mixamo_apose_cm_rig(scene, clip, 0, "Stretched")
    rig.scale = (0.01, 0.01, 0.02)
    with pytest.raises(BakeError, match=r"'Stretched' has a non-uniform world scale \(0.01, 0.01, 0.02\).*Apply > Scale"):
        bake_clip(scene, clip.person(0), [rig], name="x")
    with pytest.raises(ClipError, match="non-uniform world scale"):
        read_clip(rig, scene, 1, 10)
    assert rig.animation_data is None
    rig.scale = (0.02, 0.02, 0.02)  # uniform scale is retargeted exactly
    report = bake_clip(scene, clip.person(0), [rig], name="x")
    errors = _all(_errors(rig, scene, clip, 0, report.frame_start, step=1))
    assert np.median(errors) < 0.02 and np.percentile(errors, 95) < 0.05


def test_bad_calls_get_clear_errors() -> None:
    scene = fresh_scene()
    rig = metarig(scene)
    with pytest.raises(BakeError, match="2 people but 1 armatures"):
        bake_clip(scene, salsa_clip(10), [rig], name="x")
    light = bpy.data.objects.new("Lamp", bpy.data.lights.new("Lamp", "POINT"))
    with pytest.raises(BakeError, match="'Lamp' is not an armature"):
        bake_clip(scene, salsa_clip(10).person(0), [light], name="x")
    with pytest.raises(BakeError, match="reduce_error"):
        bake_clip(scene, salsa_clip(10).person(0), [rig], name="x", reduce_error=-1)


def test_key_reduction_drops_keys_within_the_stated_error() -> None:
    clip = salsa_clip(FRAMES).person(0)
    scene = fresh_scene()
    dense, sparse = metarig(scene), metarig(scene)
    bake_clip(scene, clip, [dense], name="dense")
    report = bake_clip(scene, clip, [sparse], name="sparse", reduce_error=1.0)

    def key_count(obj: bpy.types.Object) -> int:
        return sum(len(fc.keyframe_points) for fc in obj.animation_data.action.layers[0].strips[0].channelbags[0].fcurves)

    assert key_count(sparse) < 0.6 * key_count(dense)
    frames = list(range(report.frame_start, report.frame_end + 1, 2))
    a, b = joint_world_positions(dense, scene, frames), joint_world_positions(sparse, scene, frames)
    gaps = np.concatenate([np.linalg.norm(a[j] - b[j], axis=-1) for j in a])
    assert np.percentile(gaps, 95) < 0.03 and gaps.max() < 0.06  # 1° per bone, compounded along a chain


def test_mannequins_carry_joint_names_skinned_capsules_and_two_colours() -> None:
    scene = fresh_scene()
    people = [resolve_rig("mannequin", scene, p) for p in range(2)]
    assert [p.name for p in people] == list(NAMES)
    for person, armature in enumerate(people):
        assert sorted(b.name for b in armature.data.bones) == sorted(JOINT_NAMES)
        body = armature.children[0]
        assert body.type == "MESH" and body.modifiers["Armature"].object == armature
        assert {g.name for g in body.vertex_groups} == set(JOINT_NAMES)
        assert tuple(body.data.materials[0].diffuse_color) == pytest.approx(COLOURS[person])
        feet = min(v.co.z for v in body.data.vertices)
        assert -0.05 < feet < 0.05  # stands on the floor
    report = bake_clip(scene, salsa_clip(60), people, name="salsa dance")
    assert report.actions == ["salsa dance - IM_Person_A", "salsa dance - IM_Person_B"]


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_keys_are_the_same_rotation_blender_would_build(order: str) -> None:
    from mathutils import Euler

    from intermask_blender.baking.bake import matrix_to_euler
    from vendor_models.motion.rotations import quat_to_matrix

    rng = np.random.default_rng(3)
    quats = rng.normal(size=(100, 4))
    matrices = quat_to_matrix(quats / np.linalg.norm(quats, axis=1, keepdims=True))
    eulers = matrix_to_euler(matrices, order)
    rebuilt = np.array([np.array(Euler(e, order).to_matrix()) for e in eulers])
    np.testing.assert_allclose(rebuilt, matrices, atol=1e-5)


def test_bake_is_one_undo_step(tmp_path: Path) -> None:
    clip = salsa_clip(30)
    scene = fresh_scene()
    rig = daz_bvh_rig(scene, tmp_path, SALSA_A, frames=30)
    name, old = rig.name, rig.animation_data.action.name
    bpy.ops.ed.undo_push(message="before bake")
    bake_clip(scene, clip.person(0), [rig], name="undo me")
    bpy.ops.ed.undo_push(message="bake")
    assert "undo me" in bpy.data.actions
    bpy.ops.ed.undo()
    rig = bpy.data.objects[name]  # undo reloads the data: old references are gone
    assert "undo me" not in bpy.data.actions
    assert rig.animation_data.action.name == old and not rig.animation_data.nla_tracks


def test_bake_command_writes_a_blend_with_the_actions(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    clip_path = salsa_clip(45).save(tmp_path / "pair.npz")
    out = tmp_path / "scene.blend"
    command = [sys.executable, "-m", "intermask_blender.commands.main", "bake", str(clip_path), "--rig", "rigify-rig", "--rig", "mannequin", "--out", str(out), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["frames"] == 45 and summary["fps"] == 30.0 and summary["armatures"][1] == "IM_Person_B"
    bpy.ops.wm.open_mainfile(filepath=str(out))
    for armature, action in zip(summary["armatures"], summary["actions"]):
        assert bpy.data.objects[armature].animation_data.action.name == action
    assert bone_map_for(bpy.data.objects[summary["armatures"][0]]).preset == "rigify_controls"  # Rigify's control rig
    bad = subprocess.run([*command[:4], str(tmp_path / "missing.npz"), "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "clip file not found" in bad.stderr and "Traceback" not in bad.stderr


def test_rig_specs_from_blend_and_fbx_files(tmp_path: Path) -> None:
    from intermask_blender.rigs.rig_specs import RigError

    scene = fresh_scene()
    resolve_rig("mannequin", scene, 1)
    blend = tmp_path / "cast.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    import addon_utils

    addon_utils.enable("io_scene_fbx", default_set=True)
    fbx = tmp_path / "cast.fbx"
    bpy.ops.export_scene.fbx(filepath=str(fbx), add_leaf_bones=False)
    scene = fresh_scene()
    appended = resolve_rig(f"{blend}:IM_Person_B", scene, 0)
    assert appended.name == "IM_Person_B" and [c.name for c in appended.children] == ["IM_Person_B_Body"]
    imported = resolve_rig(str(fbx), scene, 1)
    assert imported.type == "ARMATURE" and bone_map_for(imported).preset == "smpl"
    clip = salsa_clip(30)
    report = bake_clip(scene, clip, [appended, imported], name="from files")
    assert len(report.actions) == 2
    # FBX: rotated, rescaled object and bone axes; the mannequin is not the dancer's shape, so it keeps the
    # clip's directions and hip height
    fidelity = measure(imported, scene, clip, 1, bone_map_for(imported), report.frame_start)
    assert fidelity.direction_median < 1.0 and fidelity.direction_p95 < 2.0, fidelity.line()
    assert np.all(np.abs(fidelity.pelvis_ratio - 1.0) < 0.15), fidelity.line()
    with pytest.raises(RigError, match="no object named 'Nobody'"):
        resolve_rig(f"{blend}:Nobody", scene, 0)
    with pytest.raises(RigError, match="unknown rig 'robot.obj'"):
        resolve_rig("robot.obj", scene, 0)
    with pytest.raises(RigError, match="rig file not found"):
        resolve_rig(str(tmp_path / "gone.bvh"), scene, 0)


def test_root_motion_goes_to_the_root_bone_where_the_rig_has_one() -> None:
    clip = salsa_clip(FRAMES)
    scene = fresh_scene()
    rigs = [ue4_rig_with_root(scene, clip, p, f"UE_{p}") for p in range(2)]
    assert bone_map_for(rigs[0]).preset == "ue4_mannequin" and bone_map_for(rigs[0]).bones["root"] == "root"
    report = bake_clip(scene, clip, rigs, name="salsa dance")
    for person, rig in enumerate(rigs):
        errors = _all(_errors(rig, scene, clip, person, report.frame_start))
        assert np.median(errors) < 0.02 and np.percentile(errors, 95) < 0.05
        roots, hips = [], []
        for frame in (report.frame_start, report.frame_start + 100):
            scene.frame_set(frame)
            roots.append(np.array(rig.matrix_world @ rig.pose.bones["root"].head))
            hips.append(np.mean([np.array(rig.matrix_world @ rig.pose.bones[f"thigh_{s}"].head) for s in "lr"], axis=0))
        travel = roots[1] - roots[0]
        assert abs(travel[2]) < 1e-4  # the root slides on the floor ...
        np.testing.assert_allclose(travel[:2], (hips[1] - hips[0])[:2], atol=1e-4)  # ... under the hips
