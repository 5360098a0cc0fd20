"""Reading animated armatures back into clips (the reaction input), whatever drives them."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest
from h4_scenes import (
    SALSA_A,
    daz_bvh_rig,
    fresh_scene,
    metarig,
    mixamo_apose_cm_rig,
    salsa_clip,
)

from intermask_blender.baking.bake import bake_clip, read_clip
from intermask_blender.rigs.bonemap import bone_map_for, set_override
from intermask_blender.rigs.read_armature import placement_of
from intermask_blender.rigs.retarget import pin_feet
from intermask_blender.rigs.rig_rest import PLACEMENT_KEY, Placement
from vendor_models.data.convert import convert
from vendor_models.motion.clip_file import ClipError
from vendor_models.motion.rotations import quat_angle
from vendor_models.motion.skeleton import JOINT_INDEX

FRAMES = 120


@pytest.mark.parametrize(("fps", "tolerance"), [(30, 0.01), (24, 0.025)])
def test_bake_then_read_back_returns_the_clip(fps: int, tolerance: float) -> None:
    """Baking pins planted feet on purpose, so the round trip must return the clip with pinned feet: within
    1 cm at 30 fps; at 24 fps the motion is also sampled 30 → 24 → 30 fps, which costs ~1-2 cm on fast arms."""
    clip = salsa_clip(FRAMES)
    scene = fresh_scene(fps=fps)
    scene.frame_set(11)
    rigs = [mixamo_apose_cm_rig(scene, clip, p, f"Mixamo_{p}") for p in range(2)]
    report = bake_clip(scene, clip, rigs, name="salsa dance")
    for person, rig in enumerate(rigs):
        back = read_clip(rig, scene, report.frame_start, report.frame_end)
        assert back.fps == 30.0 and back.num_people == 1
        count = back.num_frames
        assert abs(count - FRAMES) <= 1
        expected = pin_feet(clip.positions[:, person], clip.contacts[:, person], 30.0)[:count]
        error = np.linalg.norm(back.positions[:, 0] - expected, axis=-1)
        assert np.percentile(error, 95) < tolerance, np.percentile(error, 95)
        angle = np.degrees(quat_angle(back.rotations[:, 0], clip.rotations[:count, person]))
        assert np.median(angle) < 1.0


def test_read_back_of_rigify_inverts_placement_exactly() -> None:
    """Rigify's joints are not the clip's, but reading must map world → clip space exactly as baking did."""
    clip = salsa_clip(FRAMES).person(1)
    scene = fresh_scene()
    rig = metarig(scene)
    rig.location = (3.0, -2.0, 0.5)
    rig.rotation_euler.z = 1.0
    bake_clip(scene, clip, [rig], name="follow")
    back = read_clip(rig, scene, 1, FRAMES)
    bones = bone_map_for(rig).bones
    stored = Placement.stored(rig)
    assert stored is not None
    scale, origin = stored.scale, stored.origin
    for frame in (1, 60):
        scene.frame_set(frame)
        for joint in ("pelvis", "left_wrist", "right_ankle", "head"):
            world = np.array(rig.matrix_world @ rig.pose.bones[bones[joint]].head)
            model = back.positions[frame - 1, 0, JOINT_INDEX[joint]]
            blender = np.array([model[0], -model[2], model[1]]) * scale + np.array(origin)
            np.testing.assert_allclose(blender, world, atol=1e-4)
    # the bake kept the clip's hips and limb directions on Rigify's proportions; reading gives them back
    hips = [JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]
    error = np.linalg.norm(back.positions[:, 0, hips].mean(axis=1) - clip.positions[:, 0, hips].mean(axis=1), axis=-1)
    assert np.median(error) < 0.01
    for joint, child in (("left_elbow", "left_wrist"), ("right_knee", "right_ankle"), ("spine3", "neck")):
        a, b = JOINT_INDEX[joint], JOINT_INDEX[child]
        got, want = back.positions[:, 0, b] - back.positions[:, 0, a], clip.positions[:, 0, b] - clip.positions[:, 0, a]
        cos = np.sum(got * want, -1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(want, axis=-1)
        assert np.median(np.degrees(np.arccos(np.clip(cos, -1, 1)))) < 1.0, joint


def test_reads_nla_only_and_constraint_driven_armatures() -> None:
    clip = salsa_clip(FRAMES).person(0)
    scene = fresh_scene()
    source, follower = metarig(scene), metarig(scene)
    bake_clip(scene, clip, [source], name="lead")
    from_action = read_clip(source, scene, 1, FRAMES)
    adt = source.animation_data
    track = adt.nla_tracks.new()
    strip = track.strips.new("lead", 1, adt.action)
    strip.action_slot = adt.action_slot
    adt.action = None
    from_nla = read_clip(source, scene, 1, FRAMES)
    np.testing.assert_allclose(from_nla.positions, from_action.positions, atol=1e-4)
    for bone in follower.pose.bones:  # no keys at all: every bone copies the source's bone in world space
        constraint = bone.constraints.new("COPY_TRANSFORMS")
        constraint.target, constraint.subtarget = source, bone.name
    follower[PLACEMENT_KEY] = source[PLACEMENT_KEY]
    assert follower.animation_data is None
    from_constraints = read_clip(follower, scene, 1, FRAMES)
    np.testing.assert_allclose(from_constraints.positions, from_action.positions, atol=1e-3)


def test_unbaked_bvh_rig_reads_like_our_converter(tmp_path: Path) -> None:
    """Blender's import of a real BVH, read with no stored placement, has the body shape our converter
    makes of the same file: joint-to-joint distances agree once both are divided by leg length."""
    scene = fresh_scene(fps=60)  # the salsa capture rate (the header's 120 fps is wrong, see SOURCES.md)
    converted = convert([SALSA_A])
    skipped = converted.meta["unsettled_frames_dropped"]  # the converter drops the blend out of the T-pose
    rig = daz_bvh_rig(scene, tmp_path, SALSA_A, frames=61 + skipped)
    first = 2 + skipped  # scene frame 1 is the T-pose frame 0
    back = read_clip(rig, scene, first, first + 59)
    reference = converted.positions[: back.num_frames, 0]
    got = back.positions[:, 0]

    def shape(p: np.ndarray) -> np.ndarray:
        legs = np.linalg.norm(p[:, 4] - p[:, 1], axis=-1) + np.linalg.norm(p[:, 7] - p[:, 4], axis=-1)
        return np.linalg.norm(p[:, :, None] - p[:, None, :], axis=-1) / legs[:, None, None]

    mapped = [JOINT_INDEX[j] for j in bone_map_for(rig).bones if j in JOINT_INDEX]
    difference = np.abs(shape(got)[:, mapped][:, :, mapped] - shape(reference)[:, mapped][:, :, mapped])
    assert back.num_frames == 30
    assert np.percentile(difference, 95) < 0.01
    height = got[:, JOINT_INDEX["pelvis"], 1]
    assert 0.8 < np.median(height) < 1.1  # typical-leg placement: a standing adult's pelvis height


def test_read_errors_name_the_problem() -> None:
    scene = fresh_scene()
    empty = bpy.data.objects.new("Target", None)
    with pytest.raises(ClipError, match="'Target' is not an armature"):
        read_clip(empty, scene, 1, 10)
    rig = metarig(scene)
    with pytest.raises(ClipError, match="frame range 10..5 is empty"):
        read_clip(rig, scene, 10, 5)
    rig.data.bones["hand.L"].name = "paw"  # names alone no longer decide: the structure maps it
    assert bone_map_for(rig, reading=True).bones["left_wrist"] == "paw"
    set_override(rig, "left_wrist", "hand.R")
    with pytest.raises(ClipError, match="left_wrist 'hand.R' hangs under right_elbow 'forearm.R'"):
        read_clip(rig, scene, 1, 10)


def test_reaction_bake_shares_the_partners_frame(tmp_path: Path) -> None:
    """React mode: the partner is read (never baked by us), the reply is baked with the partner as anchor,
    so both stand on one origin even though the new rig sits elsewhere."""
    scene = fresh_scene()
    partner = daz_bvh_rig(scene, tmp_path, SALSA_A, frames=30)
    partner.location = (2.0, 1.0, 0.0)
    scene.view_layers[0].update()
    partner_origin = placement_of(partner, scene).origin
    reply = metarig(scene)
    reply.location = (-4.0, 0.0, 0.0)
    clip = salsa_clip(30).person(1)
    bake_clip(scene, clip, [reply], name="reply", anchor=partner)
    np.testing.assert_allclose(reply[PLACEMENT_KEY][1:3], partner_origin[:2])
    scene.frame_set(1)
    hips = np.mean([np.array(reply.matrix_world @ reply.pose.bones[f"thigh.{s}"].head) for s in "LR"], axis=0)
    expected = Placement.stored(reply).to_world(clip.positions[0, 0, [JOINT_INDEX["left_hip"], JOINT_INDEX["right_hip"]]].mean(axis=0))
    np.testing.assert_allclose(hips, expected, atol=1e-4)  # the hips stand on the clip's, on the shared origin
