"""Time baking 300 frames onto two Rigify metarigs: our bake vs a naive per-key ``keyframe_insert`` loop.

    .venv/bin/python tools/bench_bake.py [--clip cache/clips/salsa_01.npz] [--frames 300] [--repeats 3]

Both paths solve the same retarget; they differ only in how keys reach Blender (one ``foreach_set`` per
F-curve vs one ``keyframe_insert`` per bone per frame, the way many add-ons do it). Prints both times and
the ratio; the goal is at least 30× faster and at most 0.3 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from intermask_blender import bonemap
from intermask_blender.bake import bake_clip
from intermask_blender.bonemap import bone_map_for
from intermask_blender.retarget import retarget
from intermask_blender.rig import place, rig_rest
from intermask_blender.rigs import resolve_rig
from vendor_models.clip import Clip
from vendor_models.data.build import ensure_cache

REPO = Path(__file__).resolve().parents[1]


def _scene_with_rigs() -> tuple[Any, list[Any]]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bonemap.register()
    scene: Any = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    return scene, [resolve_rig("rigify", scene, p) for p in range(2)]


def naive_bake(scene: Any, clip: Clip, armatures: list[Any]) -> None:
    """The same solve, keyed the slow way: set each pose bone, ``keyframe_insert`` it, every frame."""
    anchor = np.array(armatures[0].matrix_world.translation[:2])
    for person, obj in enumerate(armatures):
        rig = rig_rest(obj, bone_map_for(obj))
        one = clip.person(person)
        pose = retarget(one, rig, place(one.positions[:, 0], one.contacts[:, 0], rig, anchor))
        bones = [obj.pose.bones[n] for n in pose.bone_names]
        for t in range(clip.num_frames):
            frame = scene.frame_current + t
            for b, bone in enumerate(bones):
                bone.rotation_quaternion = pose.quaternions[t, b]
                bone.keyframe_insert("rotation_quaternion", frame=frame, group=bone.name)
                if pose.moves[b]:
                    bone.location = pose.locations[t, b]
                    bone.keyframe_insert("location", frame=frame, group=bone.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, help="a two-person clip (default: the converted salsa_01 pair)")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    clip = Clip.load(args.clip or ensure_cache() / "salsa_01.npz")
    clip = Clip(clip.positions[: args.frames], clip.rotations[: args.frames], clip.contacts[: args.frames], clip.fps, clip.meta)
    times: dict[str, list[tuple[float, float]]] = {"bake_clip (foreach_set)": [], "naive keyframe_insert loop": []}
    for _ in range(args.repeats):
        for label, method in zip(times, (lambda s, r: bake_clip(s, clip, r, name="bench"), lambda s, r: naive_bake(s, clip, r))):
            scene, rigs = _scene_with_rigs()
            wall, cpu = time.perf_counter(), time.process_time()
            method(scene, rigs)
            times[label].append((time.perf_counter() - wall, time.process_time() - cpu))
    print(f"{clip.num_frames} frames x 2 Rigify metarigs, median of {args.repeats} (wall / CPU of this process):")
    medians = {label: [statistics.median(t[i] for t in runs) for i in (0, 1)] for label, runs in times.items()}
    for label, (wall, cpu) in medians.items():
        print(f"  {label:<28} {wall:.3f} s / {cpu:.3f} s")
    (ours, ours_cpu), (naive, naive_cpu) = medians.values()
    met = naive / ours >= 30 and ours <= 0.3
    print(f"  ratio: {naive / ours:.1f}x wall, {naive_cpu / ours_cpu:.1f}x CPU (goal >= 30x and <= 0.3 s: {'met' if met else 'NOT met'} on wall time)")


if __name__ == "__main__":
    main()
