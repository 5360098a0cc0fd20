#!/usr/bin/env python3
"""What reading React's partner costs on Blender's UI thread, per frame and per timer tick.

    PYTHONPATH=. .venv/bin/python tools/bench_partner_read.py [--frames 180] [--json]

For a baked mannequin and for Rigify's generated control rig deforming a subdivided body, prints the
cost per frame of ``scene.frame_set`` in the animator's scene (how the partner used to be read, all
frames in one tick), of the add-on's reading scene (the armature alone) and its one-off set-up, of the
F-curve reader (set-up included; where the rig allows it: the mannequin yes, Rigify's control rig with
its constraints and drivers no), and the longest timer tick when the panel's React reads the partner (about 20 ms a slice,
plus the clip's conversion and save on the last tick). Headless bpy: a GUI adds viewport work to
every frame change in the animator's scene, none to the reading scene.
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import bpy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from h4_scenes import fresh_scene, generated_rigify, salsa_clip

from intermask_blender.baking.bake import bake_clip
from intermask_blender.rigs import rig_specs
from intermask_blender.rigs.action_pose import ActionPoseSampler, fcurve_refusal
from intermask_blender.rigs.read_armature import ArmatureReading, PoseSampler
from intermask_blender.ui.operators import PartnerReading


def _body(rig: Any) -> None:
    """An 8k-vertex sphere (×16 after subdivision) the rig deforms, as a character's body would be."""
    mesh = bpy.data.meshes.new("Body")
    import bmesh

    shape = bmesh.new()
    bmesh.ops.create_uvsphere(shape, u_segments=128, v_segments=64, radius=0.5)
    shape.to_mesh(mesh)
    shape.free()
    body = bpy.data.objects.new("Body", mesh)
    bpy.context.scene.collection.objects.link(body)
    body.modifiers.new("Armature", "ARMATURE").object = rig
    group = body.vertex_groups.new(name=rig.data.bones[len(rig.data.bones) // 2].name)
    group.add(list(range(len(mesh.vertices))), 1.0, "REPLACE")
    body.modifiers.new("Subdivision", "SUBSURF").levels = 2


def measure(rig: Any, scene: Any, frames: int) -> dict[str, float | str]:
    first = scene.frame_current
    began = time.perf_counter()
    for frame in range(first, first + frames):
        scene.frame_set(frame)
        rig.evaluated_get(bpy.context.evaluated_depsgraph_get())
    frame_set_ms = (time.perf_counter() - began) * 1000 / frames
    scene.frame_set(first)

    window = range(first, first + frames)
    probe = ArmatureReading(rig, scene, window[0], window[-1])
    bones = probe.solver.rig.bone_names
    probe.close()
    began = time.perf_counter()
    sampler = PoseSampler(rig, scene, window, bones)
    sampler.sample(0.0)  # the first frame builds the reading scene's depsgraph
    setup_ms = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    sampler.sample()
    reading_ms = (time.perf_counter() - began) * 1000 / (frames - 1)
    sampler.close()
    refusal = fcurve_refusal(rig)
    fcurves: dict[str, float | str] = {"fcurve_reader": f"refused: {refusal}"}
    if refusal is None:
        began = time.perf_counter()
        ActionPoseSampler(rig, window, bones).sample()
        fcurves = {"fcurve_reader_ms_per_frame": (time.perf_counter() - began) * 1000 / frames}

    bpy.context.view_layer.objects.active = rig
    path = Path(bpy.app.tempdir or "/tmp") / "bench_partner.npz"
    partner = PartnerReading(rig, scene, path)
    ticks = []
    done = 0.0
    while done < 1.0:
        began = time.perf_counter()
        done = partner.step(0.02)
        ticks.append((time.perf_counter() - began) * 1000)
    partner.close()
    path.unlink(missing_ok=True)
    return {"frame_set_ms_per_frame": frame_set_ms, "reading_scene_ms_per_frame": reading_ms,
            "reading_scene_setup_ms": setup_ms, **fcurves, "ticks": len(ticks), "longest_tick_ms": max(ticks),
            "last_tick_ms": ticks[-1], "frames": partner.reading.progress[1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=180)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    clip = salsa_clip(args.frames).person(0)
    found = {}
    scene = fresh_scene()
    mannequin = rig_specs.resolve_rig("mannequin", scene, 0)
    bake_clip(scene, clip, [mannequin], name="salsa")
    found["mannequin"] = measure(mannequin, scene, args.frames)
    scene = fresh_scene()
    rigify = generated_rigify(scene)
    bake_clip(scene, clip, [rigify], name="salsa")
    _body(rigify)
    found["rigify_with_body"] = measure(rigify, scene, args.frames)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for name, row in found.items():
            print(f"{name}: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
