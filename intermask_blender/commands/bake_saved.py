"""`intermask bake`: bake a saved clip onto rigs and write a .blend, without the worker.

    intermask bake clip.npz --rig SPEC [--rig SPEC] --out scene.blend [--map JOINT=BONE|FILE.json]
                   [--map-a ...] [--map-b ...] [--name NAME] [--json]

One ``--rig`` serves every person of the clip, two are person A and B (SPEC as in ``intermask generate``:
mannequin, rigify, rigify-rig, FILE.blend:OBJECT, or a .fbx, .bvh, .glb, .gltf or .vrm file); ``--map``
overrides which bone plays a joint as in ``generate``. ``--json`` prints frames, fps, armature and action
names and bake seconds, and nothing else, on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import bpy

from ..baking.bake import bake_clip
from ..errors import USER_ERRORS, UsageError
from ..rigs import rig_specs as rigs
from ..seam import clip_file as clipmod
from .json_stdout import stdout_to_stderr
from .rig_options import add_map_arguments, load_rig, maps_by_person
from .scene_setup import new_scene


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intermask bake", description=__doc__.split("\n\n")[0])
    parser.add_argument("clip", type=Path, help="a clip file (.npz) written by the model or `intermask data`")
    parser.add_argument("--rig", action="append", default=[], metavar="SPEC", help=f"{rigs.RIG_SPECS} (default mannequin)")
    add_map_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="the .blend file to write")
    parser.add_argument("--name", help="action name (default: the clip's prompt)")
    parser.add_argument("--reduce-error", type=float, help="thin keys within this many degrees / cm")
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load, build rigs, bake, save; returns the summary (raises on bad input with a clear message)."""
    if args.out.suffix.lower() != ".blend":
        raise UsageError(f"--out must name a .blend file, not {args.out}")
    clip = clipmod.Clip.load(args.clip)
    specs = args.rig or ["mannequin"]
    if len(specs) > clip.num_people:
        raise UsageError(f"{len(specs)} --rig options for a clip of {clip.num_people} people")
    maps = maps_by_person(args)
    scene = new_scene(int(clip.fps) if float(clip.fps).is_integer() else 30)
    armatures = [load_rig(specs[min(p, len(specs) - 1)], scene, p, maps[p]) for p in range(clip.num_people)]
    name = args.name or str(clip.meta.get("prompt") or args.clip.stem)
    report = bake_clip(scene, clip, armatures, name=name, frame_start=scene.frame_start, reduce_error=args.reduce_error)
    scene.frame_end = report.frame_end
    args.out.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(args.out.resolve()), check_existing=False)
    return {
        "out": str(args.out), "frames": report.frames, "fps": report.fps, "frame_start": report.frame_start,
        "armatures": report.armatures, "actions": report.actions, "bake_seconds": round(report.seconds, 4),
        "warnings": report.warnings,
    }


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        with stdout_to_stderr():
            summary = run(args)
    except USER_ERRORS as exc:
        print(f"intermask bake: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"baked {summary['frames']} frames at {summary['fps']:g} fps onto {', '.join(summary['armatures'])} "
              f"in {summary['bake_seconds']} s → {summary['out']}")
    return 0
