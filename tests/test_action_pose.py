"""Reading a partner from its action's F-curves gives the temporary scene's poses, and touches no scene."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from h4_scenes import fresh_scene, metarig, salsa_clip

from intermask_blender.baking.bake import bake_clip
from intermask_blender.baking.keys import Channel, write_action
from intermask_blender.rigs import rig_specs
from intermask_blender.rigs.action_pose import (
    FRAMES_PER_CHUNK,
    ActionPoseSampler,
    fcurve_refusal,
)
from intermask_blender.rigs.read_armature import ArmatureReading, PoseSampler

FRAMES = range(1, 41)


def _both(rig: bpy.types.Object, scene: bpy.types.Scene) -> None:
    """The F-curve reader equals the reading scene's, for every bone of the rig, within 1e-5."""
    assert fcurve_refusal(rig) is None
    bones = [b.name for b in rig.data.bones]
    fast = ActionPoseSampler(rig, FRAMES, bones)
    assert fast.sample()
    slow = PoseSampler(rig, scene, FRAMES, bones)
    try:
        assert slow.sample()
    finally:
        slow.close()
    for name in ("heads", "tails", "orient"):
        np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), atol=1e-5, err_msg=name)
    moved = np.ptp(slow.heads, axis=0).max()
    assert moved > 0.05, "the rig must actually move for the comparison to mean anything"


def _wave(frames: np.ndarray, seed: int, size: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return size * np.sin(frames * rng.uniform(0.05, 0.3) + rng.uniform(0, 6))


def _keys(rig: bpy.types.Object, props: dict[str, int], size: dict[str, float], modes: list[str]) -> None:
    """Smooth random keys on every bone's ``props`` (name → component count), every other frame; bones
    take ``modes`` as rotation modes in turn."""
    frames = np.arange(1, 41, 2, dtype=np.float64)
    channels = []
    for b, pose_bone in enumerate(rig.pose.bones):
        pose_bone.rotation_mode = modes[b % len(modes)]
        for prop, count in props.items():
            for i in range(count):
                offset = float(prop == "scale" or (prop, i) in {("rotation_quaternion", 0), ("rotation_axis_angle", 3)})
                channels.append(Channel(f'pose.bones["{pose_bone.name}"].{prop}', i, pose_bone.name,
                                        offset + _wave(frames, 97 * b + 7 * i + len(prop), size[prop])))
    write_action(rig, "test", frames, channels)


def test_baked_mannequin_reads_the_same() -> None:
    scene = fresh_scene()
    rig = rig_specs.resolve_rig("mannequin", scene, 0)
    bake_clip(scene, salsa_clip(len(FRAMES)).person(0), [rig], name="salsa")
    _both(rig, scene)


def test_metarig_with_euler_rotations_in_every_order_reads_the_same() -> None:
    scene = fresh_scene()
    rig = metarig(scene)
    _keys(rig, {"rotation_euler": 3}, {"rotation_euler": 0.6},
          ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
    for pose_bone in rig.pose.bones:  # channels without F-curves keep their values
        pose_bone.scale, pose_bone.location = (1.1, 0.9, 1.05), (0.01, -0.02, 0.03)
    _both(rig, scene)


def test_quaternion_location_and_scale_keys_on_a_moved_scaled_turned_object() -> None:
    scene = fresh_scene()
    rig = metarig(scene)
    rig.location, rig.rotation_euler, rig.scale = (1.5, -2.0, 0.3), (0.2, -0.4, 1.1), (0.7, 1.3, 0.9)
    _keys(rig, {"rotation_quaternion": 4, "location": 3, "scale": 3},
          {"rotation_quaternion": 0.4, "location": 0.05, "scale": 0.2}, ["QUATERNION"])
    _both(rig, scene)


def test_axis_angle_and_bones_that_do_not_inherit_rotation_or_local_location() -> None:
    scene = fresh_scene()
    rig = metarig(scene)
    for i, bone in enumerate(rig.data.bones):
        bone.use_inherit_rotation = i % 3 != 0
        bone.use_local_location = i % 4 != 1
    _keys(rig, {"rotation_axis_angle": 4, "location": 3, "scale": 3},
          {"rotation_axis_angle": 0.8, "location": 0.05, "scale": 0.2}, ["AXIS_ANGLE"])
    _both(rig, scene)


def _animated_metarig() -> tuple[bpy.types.Object, bpy.types.Scene]:
    scene = fresh_scene()
    rig = metarig(scene)
    bake_clip(scene, salsa_clip(len(FRAMES)).person(1), [rig], name="lead")
    assert fcurve_refusal(rig) is None
    return rig, scene


def test_constraint_driver_or_nla_takes_the_reading_scene() -> None:
    rig, scene = _animated_metarig()
    constraint = rig.pose.bones["hand.L"].constraints.new("COPY_ROTATION")
    assert "constraints" in (fcurve_refusal(rig) or "")
    reading = ArmatureReading(rig, scene, 1, 10)
    assert isinstance(reading.sampler, PoseSampler)
    reading.close()
    constraint.mute = True
    assert fcurve_refusal(rig) is None
    driver = rig.pose.bones["spine"].driver_add("location", 0)
    driver.driver.expression = "0.1"
    assert "drivers" in (fcurve_refusal(rig) or "")
    rig.pose.bones["spine"].driver_remove("location", 0)
    assert fcurve_refusal(rig) is None
    adt = rig.animation_data
    strip = adt.nla_tracks.new().strips.new("under", 1, bpy.data.actions.new("under"))
    assert fcurve_refusal(rig) == "NLA strips play"
    strip.mute = True
    assert fcurve_refusal(rig) is None
    adt.action = None
    assert fcurve_refusal(rig) == "no active action"


@pytest.mark.parametrize("budget", [None, 0.0])
def test_fast_reading_leaves_the_scene_and_frame_alone(budget: float | None) -> None:
    rig, scene = _animated_metarig()
    scene.frame_set(7)
    scenes = [s.name for s in bpy.data.scenes]
    reading = ArmatureReading(rig, scene, 1, len(FRAMES))
    assert isinstance(reading.sampler, ActionPoseSampler)
    steps = 0
    while not reading.sample(budget):
        steps += 1
        assert scene.frame_current == 7 and [s.name for s in bpy.data.scenes] == scenes
    assert steps == (0 if budget is None else -(-len(FRAMES) // FRAMES_PER_CHUNK) - 1)  # a chunk a tick when it has no time
    clip = reading.clip()
    reading.close()
    assert clip.num_frames == len(FRAMES)
    assert scene.frame_current == 7 and [s.name for s in bpy.data.scenes] == scenes
