"""The action a bake pushes down into the NLA is kept there but no longer plays under the new one.

Rigify's metarig has fingers, which the clip has no joints for: the animator's old action bends one, the
bake keys only the body, and the finger must be at rest in what Blender evaluates.
"""

# fake-bpy-module types pose, animation data and their members as Optional:
# mypy: disable-error-code="union-attr"

from __future__ import annotations

import bpy
import numpy as np
from h4_scenes import fresh_scene, metarig, salsa_clip

from intermask_blender.baking.bake import bake_clip

FINGER = "f_index.01.L"


def _finger_basis(rig: bpy.types.Object, scene: bpy.types.Scene, frame: int) -> np.ndarray:
    """The finger's evaluated local transform (identity = at rest) at ``frame``."""
    scene.frame_set(frame)
    evaluated = rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
    return np.array(evaluated.pose.bones[FINGER].matrix_basis)


def test_the_old_action_stays_in_the_nla_and_moves_no_bone() -> None:
    scene = fresh_scene()
    rig = metarig(scene)
    finger, thigh = rig.pose.bones[FINGER], rig.pose.bones["thigh.L"]
    for frame, angle in ((1, 0.0), (30, 1.2)):  # the animator's take: a curling finger, a lifted thigh
        finger.rotation_quaternion = (np.cos(angle / 2), np.sin(angle / 2), 0.0, 0.0)
        thigh.rotation_quaternion = (np.cos(angle / 4), np.sin(angle / 4), 0.0, 0.0)
        finger.keyframe_insert("rotation_quaternion", frame=frame)
        thigh.keyframe_insert("rotation_quaternion", frame=frame)
    old = rig.animation_data.action
    assert not np.allclose(_finger_basis(rig, scene, 20), np.eye(4), atol=1e-3)  # the old take bends it

    report = bake_clip(scene, salsa_clip(40).person(0), [rig], name="salsa")
    adt = rig.animation_data
    assert adt.action.name == report.actions[0] != old.name
    assert not any(FINGER in fc.data_path for fc in adt.action.layers[0].strips[0].channelbags[0].fcurves)
    for frame in (5, 20, 30):
        np.testing.assert_allclose(_finger_basis(rig, scene, frame), np.eye(4), atol=1e-6, err_msg=f"frame {frame}")
    strips = [strip for track in adt.nla_tracks for strip in track.strips]
    assert [s.action for s in strips] == [old] and strips[0].mute, "the old take is kept in the NLA, muted"

    strips[0].mute = False  # the animator can bring it back: then the finger plays again
    assert not np.allclose(_finger_basis(rig, scene, 20), np.eye(4), atol=1e-3)
