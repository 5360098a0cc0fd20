"""Time baking 300 frames onto two Rigify metarigs: our bake vs a naive per-key ``keyframe_insert`` loop.

    .venv/bin/python tools/bench_bake.py [--clip cache/clips/salsa_01.npz] [--frames 300] [--repeats 3]

Both paths solve the same retarget; they differ only in how keys reach Blender (one ``foreach_set`` per
F-curve vs one ``keyframe_insert`` per bone per frame, the way many add-ons do it). Prints the whole bake
against solve + naive loop (the goal: at least 30x faster and at most 0.3 s), and the key writing alone
on the same solved poses, since the shared solve caps the whole-bake ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bpy
import numpy as np

from intermask_blender.baking.bake import bake_clip, pose_channels
from intermask_blender.baking.keys import write_action
from intermask_blender.rigs import bonemap
from intermask_blender.rigs.bonemap import bone_map_for
from intermask_blender.rigs.retarget import retarget
from intermask_blender.rigs.rig_rest import place, rig_rest
from intermask_blender.rigs.rig_specs import resolve_rig
from vendor_models.data.build import ensure_cache
from vendor_models.motion.clip_file import Clip

REPO = Path(__file__).resolve().parents[1]


def _scene_with_rigs() -> tuple[Any, list[Any]]:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bonemap.register()
    scene: Any = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    return scene, [resolve_rig("rigify", scene, p) for p in range(2)]


def solved_poses(clip: Clip, armatures: list[Any]) -> list[Any]:
    """The retarget both bake paths share: one solved pose per armature."""
    anchor = np.array(armatures[0].matrix_world.translation[:2])
    poses = []
    for person, obj in enumerate(armatures):
        rig = rig_rest(obj, bone_map_for(obj))
        one = clip.person(person)
        poses.append(retarget(one, rig, place(one.positions[:, 0], one.contacts[:, 0], rig, anchor)))
    return poses


def insert_keys_naively(scene: Any, poses: list[Any], armatures: list[Any]) -> None:
    """Keys the slow way: set each pose bone, ``keyframe_insert`` it, every frame."""
    for pose, obj in zip(poses, armatures):
        bones = [obj.pose.bones[n] for n in pose.bone_names]
        for t in range(pose.quaternions.shape[0]):
            frame = scene.frame_current + t
            for b, bone in enumerate(bones):
                if not pose.keyed[b]:
                    continue
                bone.rotation_quaternion = pose.quaternions[t, b]
                bone.keyframe_insert("rotation_quaternion", frame=frame, group=bone.name)
                if pose.moves[b]:
                    bone.location = pose.locations[t, b]
                    bone.keyframe_insert("location", frame=frame, group=bone.name)


def write_keys(scene: Any, poses: list[Any], armatures: list[Any]) -> None:
    """Keys the way bake_clip writes them: one foreach_set per F-curve into a new action."""
    frames = scene.frame_current + np.arange(poses[0].quaternions.shape[0])
    for pose, obj in zip(poses, armatures):
        modes = [obj.pose.bones[n].rotation_mode for n in pose.bone_names]
        write_action(obj, "bench", frames, pose_channels(pose, modes, None, 1.0))


def _timed(method: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    method()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, help="a two-person clip (default: the converted salsa_01 pair)")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    clip = Clip.load(args.clip or ensure_cache() / "salsa_01.npz")
    clip = Clip(clip.positions[: args.frames], clip.rotations[: args.frames], clip.contacts[: args.frames], clip.fps, clip.meta)
    labels = ("bake_clip (foreach_set)", "solve + keyframe_insert loop", "keys only: foreach_set", "keys only: keyframe_insert")
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
    for _ in range(args.repeats):
        scene, rigs = _scene_with_rigs()
        times[labels[0]].append(_timed(lambda: bake_clip(scene, clip, rigs, name="bench")))
        scene, rigs = _scene_with_rigs()
        times[labels[1]].append(_timed(lambda: insert_keys_naively(scene, solved_poses(clip, rigs), rigs)))
        for label, write in zip(labels[2:], (write_keys, insert_keys_naively)):
            scene, rigs = _scene_with_rigs()
            poses = solved_poses(clip, rigs)
            times[label].append(_timed(lambda: write(scene, poses, rigs)))
    print(f"{clip.num_frames} frames x 2 Rigify metarigs, median of {args.repeats} (wall / CPU of this process):")
    medians = {label: [statistics.median(t[i] for t in runs) for i in (0, 1)] for label, runs in times.items()}
    for label, (wall, cpu) in medians.items():
        print(f"  {label:<32} {wall:.4f} s / {cpu:.4f} s")
    (ours, ours_cpu), (naive, naive_cpu), (keys, _), (naive_keys, _) = medians.values()
    met = naive / ours >= 30 and ours <= 0.3
    print(f"  whole bake: {naive / ours:.1f}x wall, {naive_cpu / ours_cpu:.1f}x CPU "
          f"(goal >= 30x and <= 0.3 s: {'met' if met else 'NOT met'} on wall time)")
    print(f"  keys only (the same solved poses): {naive_keys / keys:.1f}x wall")


if __name__ == "__main__":
    main()
