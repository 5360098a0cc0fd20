"""`intermask data convert A.bvh [B.bvh] --out clip.npz` and `intermask data build`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.bvh import BvhError
from ..motion.clip_file import ClipError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intermask data", description="Real mocap (BVH) → clip files.")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert one BVH (one person) or two (a pair in one world frame)")
    conv.add_argument("bvh", nargs="+", type=Path, help="one or two BVH files")
    conv.add_argument("--out", type=Path, required=True, help="clip file to write (.npz)")
    conv.add_argument("--fps", type=float, help="true capture rate when the BVH header is wrong")
    conv.add_argument("--prompt", default="", help="text to store in the clip's meta")
    build = sub.add_parser("build", help="convert all of ../shared/data/cmu into the clip cache, write split.json")
    build.add_argument("--cache", type=Path, help="cache folder (default: <repo>/cache/clips)")
    build.add_argument("--data", type=Path, help="CMU data folder (default: $INTERMASK_DATA or ../shared/data/cmu)")
    build.add_argument("--force", action="store_true", help="rebuild clips that are already in the cache")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "convert":
            from ..data.convert import convert

            if len(args.bvh) > 2:
                raise ClipError(f"convert takes one or two BVH files, got {len(args.bvh)}")
            clip = convert(args.bvh, fps=args.fps, meta={"prompt": args.prompt} if args.prompt else None)
            path = clip.save(args.out)
            rates = ", ".join(
                f"{p['file']} read at {p['source_fps']:g} fps (header {p['header_fps']:g}), rest pose {p['rest']}"
                for p in clip.meta["people"]
            )
            print(f"wrote {path}: {clip.num_frames} frames at {clip.fps:g} fps, {clip.num_people} people; {rates}")
        else:
            from ..data.build import build

            split = build(args.cache, args.data, force=args.force)
            print(", ".join(f"{name}: {len(split[name])}" for name in ("train", "val", "test")))
    except (BvhError, ClipError, OSError) as exc:
        print(f"intermask data: {exc}", file=sys.stderr)
        return 2
    return 0
