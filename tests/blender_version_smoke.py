"""Run by each supported Blender's Python from ``test_blender_versions.py``; prints one ``SMOKE {json}`` line.

    python blender_version_smoke.py EXTENSION.zip CLIP.npz REPO_DIR

Installs the built zip through Blender's extension API, disables and re-enables it twice, then uses the
installed copy (never the source checkout: the caller leaves the repository off ``sys.path``) to

1. bake the clip onto two mannequins, then again onto the same armatures (the first actions must go to the
   NLA stack), and report how the keys were stored plus every pose bone's evaluated head of person A;
2. bake person A onto the control rig this Blender's Rigify generates and report where that rig's ORG
   skeleton (which drives its deform bones) is,

both at one frame, so the caller can compare every Blender with the one running the test suite. It also
reports whether anything imported torch (the add-on never may). Finally it
disables the add-on and leaves at once: after Rigify has generated a rig, the bpy 4.2 module crashes and
bpy 4.5 hangs while shutting down, even with no add-on of ours loaded.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from types import ModuleType
from typing import Any

import bpy
import addon_utils  # after bpy, which puts Blender's script modules on sys.path
import numpy

import blender_extension

PROBE_FRAME = 31


def addon_module(name: str) -> ModuleType:
    """A module of the installed extension, e.g. ``baking.results``."""
    return importlib.import_module(f"{blender_extension.ADDON}.{name}")


def empty_scene() -> Any:
    """A fresh empty factory scene (24 fps) that keeps the preferences, so the extension stays enabled."""
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)
    return bpy.context.scene


def keyed_fcurves(obj: Any) -> list[Any]:
    """The F-curves animating ``obj``: its slot's channelbag on 4.4+, ``Action.fcurves`` before."""
    adt = obj.animation_data
    if not hasattr(adt.action, "layers"):
        return list(adt.action.fcurves)
    from bpy_extras import anim_utils
    bag = anim_utils.action_get_channelbag_for_slot(adt.action, adt.action_slot)
    return list(bag.fcurves) if bag else []


def bake_mannequins(clip: Any) -> dict[str, Any]:
    results = addon_module("baking.results")
    scene = empty_scene()
    first = results.bake_result(scene, clip, "GENERATE", [None, None], name="first")
    people = [bpy.data.objects[name] for name in first.armatures]
    second = results.bake_result(scene, clip, "GENERATE", people, name="second")
    person_a = people[0]
    adt = person_a.animation_data
    scene.frame_set(PROBE_FRAME)
    curves = keyed_fcurves(person_a)
    return {
        "actions": second.actions,
        "frames": second.frames,
        "slotted": hasattr(adt.action, "layers") and len(adt.action.slots) == 1 and adt.action_slot is not None,
        "fcurves": len(curves),
        "keys": sum(len(fc.keyframe_points) for fc in curves),
        "nla": [strip.action.name for track in adt.nla_tracks for strip in track.strips],
        "heads": {bone.name: list(person_a.matrix_world @ bone.head) for bone in person_a.pose.bones},
    }


def bake_rigify_control_rig(clip: Any) -> dict[str, Any]:
    scene = empty_scene()
    control_rig = addon_module("rigs.rig_specs").resolve_rig("rigify-rig", scene, 0)
    addon_module("baking.bake").bake_clip(scene, clip.person(0), [control_rig], name="rigify")
    scene.frame_set(PROBE_FRAME)
    return {
        "preset": addon_module("rigs.bonemap").bone_map_for(control_rig).preset,
        "org_heads": {b.name: list(control_rig.matrix_world @ b.head) for b in control_rig.pose.bones
                      if b.name.startswith("ORG-")},
    }


def main() -> None:
    zip_path, clip_path, repo_dir = sys.argv[1:4]
    blender_extension.install(zip_path, repo_dir)
    registration = blender_extension.toggle_twice()
    clip = addon_module("seam").clip_file.Clip.load(clip_path)
    report = {
        "version": list(bpy.app.version[:2]),
        "python": "%d.%d" % sys.version_info[:2],
        "numpy": numpy.__version__,
        "registration": registration,
        "seam": addon_module("seam").protocol.__name__,
        "mannequin": bake_mannequins(clip),
        "rigify": bake_rigify_control_rig(clip),
        "torch": any(m == "torch" or m.startswith("torch.") for m in sys.modules),
    }
    addon_utils.disable(blender_extension.ADDON, default_set=True)
    report["unregistered"] = blender_extension.registered()
    print("SMOKE " + json.dumps(report), flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
