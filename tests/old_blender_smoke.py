"""Run by an older Blender's Python (bpy 4.2 LTS, 4.5 LTS) from ``test_old_blenders.py``; prints one JSON line.

    python old_blender_smoke.py CLIP.npz [rigify]

Registers the add-on twice, bakes the clip onto two mannequins, bakes it again onto the same armatures
(the first actions must go to the NLA stack), and reports how the keys were stored plus every pose
bone's evaluated head of person A at one frame, so the caller can compare with the newest Blender.

With ``rigify`` it instead bakes person A onto the control rig this Blender's Rigify generates and
reports where that rig's ORG skeleton (which drives its deform bones) is at the same frame. It then
leaves at once: after Rigify has generated a rig, the bpy 4.2 module crashes and bpy 4.5 hangs while
shutting down, even with no add-on of ours loaded.
"""

from __future__ import annotations

import json
import os
import sys

import bpy

import intermask_blender
from intermask_blender.baking import results
from intermask_blender.baking.bake import bake_clip
from intermask_blender.rigs.bonemap import bone_map_for
from intermask_blender.rigs.rig_specs import resolve_rig
from intermask_blender.seam import clip_file as clipmod

PROBE_FRAME = 31


def keyed_fcurves(obj: bpy.types.Object) -> list[bpy.types.FCurve]:
    """The F-curves animating ``obj``: its slot's channelbag on 4.4+, ``Action.fcurves`` before."""
    adt = obj.animation_data
    if not hasattr(adt.action, "layers"):
        return list(adt.action.fcurves)
    from bpy_extras import anim_utils
    bag = anim_utils.action_get_channelbag_for_slot(adt.action, adt.action_slot)
    return list(bag.fcurves) if bag else []


def main() -> None:
    for _ in range(2):
        intermask_blender.register()
        intermask_blender.unregister()
    intermask_blender.register()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    clip = clipmod.Clip.load(sys.argv[1])
    if sys.argv[2:] == ["rigify"]:
        report_rigify(scene, clip)
        return
    first = results.bake_result(scene, clip, "GENERATE", [None, None], name="first")
    people = [bpy.data.objects[name] for name in first.armatures]
    second = results.bake_result(scene, clip, "GENERATE", people, name="second")
    person_a = people[0]
    adt = person_a.animation_data
    scene.frame_set(PROBE_FRAME)
    heads = {bone.name: list(person_a.matrix_world @ bone.head) for bone in person_a.pose.bones}
    curves = keyed_fcurves(person_a)
    print("SMOKE " + json.dumps({
        "version": list(bpy.app.version[:2]),
        "actions": second.actions,
        "frames": second.frames,
        "slotted": hasattr(adt.action, "layers") and len(adt.action.slots) == 1 and adt.action_slot is not None,
        "fcurves": len(curves),
        "keys": sum(len(fc.keyframe_points) for fc in curves),
        "nla": [strip.action.name for track in adt.nla_tracks for strip in track.strips],
        "heads": heads,
    }))
    intermask_blender.unregister()


def report_rigify(scene: bpy.types.Scene, clip: clipmod.Clip) -> None:
    control_rig = resolve_rig("rigify-rig", scene, 0)
    bake_clip(scene, clip.person(0), [control_rig], name="rigify")
    scene.frame_set(PROBE_FRAME)
    print("SMOKE " + json.dumps({
        "version": list(bpy.app.version[:2]),
        "preset": bone_map_for(control_rig).preset,
        "org_heads": {b.name: list(control_rig.matrix_world @ b.head) for b in control_rig.pose.bones if b.name.startswith("ORG-")},
    }), flush=True)
    intermask_blender.unregister()
    os._exit(0)


if __name__ == "__main__":
    main()
