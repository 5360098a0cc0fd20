"""`intermask generate` and `intermask react`: the panel's job, from the command line, into a .blend file.

Same worker client and same bake path as the panel (:mod:`worker_client`, :mod:`results`): the worker
process generates, this process (bpy, no torch) builds or imports the rigs, bakes and saves. The rigs are
loaded and their bone maps checked before the worker starts, so a rig that cannot be used costs no
generation.

    intermask generate "PROMPT" --seconds 6 --seed 1 --out scene.blend [--rig SPEC [--rig SPEC]]
                       [--map JOINT=BONE|FILE.json] [--map-a ...] [--map-b ...]
                       [--save-clip clip.npz] [--json] [--model NAME | --checkpoint FOLDER]
    intermask generate --seconds 30 [--segments FILE] ["PROMPT"] --out take.blend      # 10-60 s in windows
    intermask generate --extend CLIP.npz --seconds N ["PROMPT"] --out longer.blend
    intermask generate --edit CLIP.npz --frames A:B [--person a|b|both] ["PROMPT"] --out edited.blend
    intermask react --partner FILE.bvh|FILE.fbx|FILE.glb|FILE.blend:OBJECT "PROMPT" --out scene.blend [--rig SPEC]
                    [--partner-fps FPS] [--partner-frames A:B] [--segments FILE] [...]   # partners up to 60 s

SPEC is ``mannequin`` (default), ``rigify``, ``rigify-rig``, ``FILE.blend:OBJECT`` or a ``.fbx``, ``.bvh``,
``.glb``, ``.gltf`` or ``.vrm`` file; one ``--rig`` serves both people, two are person A and B. In ``react``
the partner is person A and ``--rig`` is the rig of the generated person B. ``--map`` overrides which bone
plays a joint on every rig, ``--map-a``/``--map-b`` on one person's (see :mod:`rig_options`). The
options of long takes, continuing and editing a clip are those of ``intermask sample`` (:mod:`take_options`).
"""

# fake-bpy-module types every context member as Optional and RNA collections as unions of all ID types:
# mypy: disable-error-code="union-attr,override,attr-defined,assignment"

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bpy

from ..baking import results
from ..client import deps
from ..client.worker_client import WorkerClient, run_job
from ..errors import USER_ERRORS, UsageError
from ..rigs import rig_import
from ..rigs import rig_specs as rigs
from ..rigs.read_armature import read_partner
from ..seam import clip_file, model_store, protocol
from .json_stdout import stdout_to_stderr
from .rig_options import add_map_arguments, load_rig, maps_by_person
from .scene_setup import new_scene
from .take_options import add_take_arguments, build_request

PROGRESS_BAR = 30  # characters of the progress line's bar


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"intermask {command}", description=__doc__.split("\n\n")[0])
    parser.add_argument("prompt", nargs="?", default="",
                        help="what the two people do (an edit or extension without one keeps the clip's)")
    if command == "react":
        parser.add_argument("--partner", required=True,
                            help="the animated partner: FILE.bvh, FILE.fbx, FILE.glb/.gltf or FILE.blend:OBJECT")
        parser.add_argument("--partner-fps", type=float,
                            help="frames per second of the partner's keys (default: the rate the BVH or FBX file "
                                 "states, else 30)")
        parser.add_argument("--partner-frames", metavar="A:B",
                            help=f"the partner's frames to react to (default: from its first key, at most "
                                 f"{protocol.MAX_TAKE_SECONDS:g} s; over {protocol.MAX_SECONDS:g} s in windows)")
    add_take_arguments(parser, command == "react")
    protocol.add_sampler_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="the .blend file to write")
    parser.add_argument("--rig", action="append", default=[], metavar="SPEC",
                        help=f"{rigs.RIG_SPECS}; once for both people, twice for A then B (default: mannequin)")
    add_map_arguments(parser)
    parser.add_argument("--save-clip", type=Path, help="also write the generated clip (.npz)")
    parser.add_argument("--variation", type=int, default=1, help="which of them to bake (1-based)")
    model_store.add_model_arguments(parser)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    return parser


def _check_args(args: argparse.Namespace, react: bool) -> Path | None:
    """Refuse bad options before any work; returns the model folder for the worker (None: built-in)."""
    if args.out.suffix.lower() != ".blend":
        raise UsageError(f"--out must name a .blend file, not {args.out}")
    if len(args.rig) > (1 if react else 2):
        raise UsageError("react takes at most one --rig (for person B)" if react else "at most two --rig options")
    if not 1 <= args.variation <= args.variations:
        raise UsageError(f"--variation {args.variation} is not among the {args.variations} variations")
    if args.checkpoint is not None and not args.checkpoint.is_dir():
        raise UsageError(f"checkpoint folder not found: {args.checkpoint}")
    build_request(args, react, protocol.SamplerSettings.from_args(args))
    try:
        return model_store.chosen_folder(args)
    except model_store.ModelStoreError as exc:
        raise UsageError(str(exc)) from exc


def _progress(message: protocol.Progress) -> None:
    """One line redrawn in place; a long take's total counts every step of every window."""
    if message.total <= 0:
        print(f"\r{message.stage}", end="", file=sys.stderr, flush=True)
        return
    done = int(PROGRESS_BAR * message.step / message.total)
    whole = " steps of all windows" if message.stage == "sampling" else ""
    print(f"\r{message.stage} [{'#' * done}{'.' * (PROGRESS_BAR - done)}] {message.step}/{message.total}{whole}",
          end="", file=sys.stderr, flush=True)


def _generate(client: WorkerClient, request: protocol.JobRequest) -> tuple[protocol.Result, float]:
    began = time.perf_counter()
    result = run_job(client, request, _progress)
    print(file=sys.stderr)
    return result, time.perf_counter() - began


def bvh_frame_rate(path: Path) -> float:
    """The rate a BVH file's header states (its ``Frame Time:`` line)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip().lower().startswith("frame time:"):
                frame_time = float(line.split(":", 1)[1])
                if frame_time > 0:
                    return 1.0 / frame_time
    raise UsageError(f"{path}: no valid 'Frame Time:' line in the BVH header")


def _frame_window(text: str | None) -> tuple[int, int] | None:
    """``--partner-frames A:B`` as a frame range (None: the partner's own action range)."""
    if not text:
        return None
    try:
        first, last = (int(part) for part in text.split(":"))
    except ValueError:
        raise UsageError(f"--partner-frames must look like 10:250, not {text!r}") from None
    return first, last


def _partner(args: argparse.Namespace, scene: bpy.types.Scene,
             overrides: dict[str, str]) -> tuple[bpy.types.Object, int, clip_file.Clip]:
    """Import the partner rig with its animation and read it into a one-person clip.

    Imported keys sit one per scene frame, so the scene runs at the partner's own rate: the partner
    plays in real time and the generated person is baked at that rate too. (The import itself leaves the
    rate alone; a glTF's keys, timed in seconds, are placed at the rate set here.)"""
    fps = args.partner_fps
    if fps is None:
        path = Path(args.partner)
        fps = (bvh_frame_rate(path) if path.suffix.lower() == ".bvh"
               else rig_import.fbx_frame_rate(path) if path.suffix.lower() == ".fbx" else 30.0)
    if not 1.0 <= fps <= 1000.0:
        raise UsageError(f"--partner-fps must be between 1 and 1000, not {fps:g}")
    scene.render.fps, scene.render.fps_base = round(fps), round(fps) / fps
    partner = load_rig(args.partner, scene, 0, overrides)
    clip, first = read_partner(partner, scene, _frame_window(args.partner_frames))
    scene.frame_start, scene.frame_end, scene.frame_current = first, first + clip.num_frames - 1, first
    return partner, first, clip


def _rigs(args: argparse.Namespace, scene: bpy.types.Scene, react: bool) -> tuple[list[bpy.types.Object | None], int, clip_file.Clip | None]:
    """Person A and B's armatures (react: A is the partner), the first frame, and the partner's clip."""
    maps = maps_by_person(args)
    people: list[bpy.types.Object | None] = [None, None]
    first, partner_clip = scene.frame_start, None
    if react:
        people[0], first, partner_clip = _partner(args, scene, maps[0])
    specs = args.rig or ["mannequin"]
    for slot in ((1,) if react else (0, 1)):
        spec = specs[0] if react or len(specs) == 1 else specs[slot]
        people[slot] = load_rig(spec, scene, slot, maps[slot])
    return people, first, partner_clip


def run(command: str, args: argparse.Namespace) -> dict[str, Any]:
    """Generate, bake and save; returns the summary (raises one of ``USER_ERRORS`` on bad input)."""
    react = command == "react"
    model_folder = _check_args(args, react)
    scene = new_scene()
    people, first, partner_clip = _rigs(args, scene, react)
    python = deps.resolve_worker_python("auto")
    client = WorkerClient(python, model_folder, args.device)
    sampler = protocol.SamplerSettings.from_args(args)
    with tempfile.TemporaryDirectory(prefix="intermask_") as folder:  # clip files live only as long as the job
        out_dir = Path(folder)
        try:
            partner_path = str(partner_clip.save(out_dir / "partner.npz")) if partner_clip is not None else ""
            request = build_request(args, react, sampler, str(out_dir), partner_path)
            result, gen_s = _generate(client, request)
        finally:
            client.shutdown()
        clip = results.load_variation(result.clips, args.variation)
    began = time.perf_counter()
    report = results.bake_result(scene, clip, "REACT" if react else "GENERATE", people,
                                 name=str(clip.meta.get("prompt") or request.prompt), frame_start=first,
                                 partner=people[0] if react else None)
    bake_s = time.perf_counter() - began
    if args.save_clip:
        clip.save(args.save_clip)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(args.out.resolve()), check_existing=False)
    return {
        "out": str(args.out), "clip": str(args.save_clip) if args.save_clip else None, "prompt": request.prompt,
        "request": request.TYPE, "windows": int(clip.meta.get("windows", 1)),
        "seed": args.seed, "variation": args.variation, "frames": report.frames,
        "fps": scene.render.fps / scene.render.fps_base,
        "armatures": [obj.name for obj in people if obj is not None],
        "actions": list(report.actions),
        "generation_seconds": round(gen_s, 3), "worker_timings": result.timings, "bake_seconds": round(bake_s, 3),
        "warnings": result.warnings,
    }


def main_for(command: str, argv: list[str]) -> int:
    args = _parser(command).parse_args(argv)
    try:
        with stdout_to_stderr():
            summary = run(command, args)
    except USER_ERRORS as exc:
        print(f"intermask {command}: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"wrote {summary['out']}: {summary['frames']} frames at {summary['fps']:g} fps on "
              f"{', '.join(summary['armatures'])} (generation {summary['generation_seconds']:.2f} s, "
              f"bake {summary['bake_seconds']:.2f} s)")
    return 0


def main(argv: list[str]) -> int:
    """Entry of ``intermask generate``."""
    return main_for("generate", argv)
