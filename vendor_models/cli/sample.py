"""``intermask sample``: generate two-person clips (or a reaction to a partner) from the command line.

    intermask sample "PROMPT" --seconds 6 --seed 1 --out clip.npz [--preview x.gif] [--variations N]
    intermask sample --react partner.npz|partner.bvh "PROMPT" --out clip.npz
    intermask sample "PROMPT" --model NAME --out clip.npz      # an imported model (intermask models list)

With several variations the files are ``clip.npz``, ``clip_v1.npz``, … (and likewise for the preview).
Every failure is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..generation.errors import GenerationError
from ..generation.reaction import load_partner
from ..motion.clip_file import ClipError
from ..motion.model_store import add_model_arguments, chosen_folder
from ..motion.protocol import SamplerSettings, add_sampler_arguments


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="intermask sample", description=__doc__.splitlines()[0])
    parser.add_argument("prompt", help="what the two people do (English)")
    parser.add_argument("--out", type=Path, required=True, help="clip file to write (.npz)")
    parser.add_argument("--seconds", type=float, default=6.0, help="clip length, 1-10 s (default 6)")
    add_sampler_arguments(parser)
    parser.add_argument("--person-a", default="", help="extra prompt for person A")
    parser.add_argument("--person-b", default="", help="extra prompt for person B")
    parser.add_argument("--react", type=Path, help="partner clip (.npz, one person) or BVH file: generate its partner")
    parser.add_argument("--preview", type=Path, help="also draw the clip as a GIF")
    add_model_arguments(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    return parser.parse_args(argv)


def output_path(out: Path, variation: int, suffix: str) -> Path:
    base = out.with_suffix(suffix)
    return base if variation == 0 else base.with_name(f"{base.stem}_v{variation}{suffix}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from ..generation.generator import DEFAULT_CHECKPOINT, Generator

    def progress(step: int, total: int, stage: str) -> None:
        if stage == "sampling":
            print(f"\r{stage} {step}/{total}", end="" if step < total else "\n", file=sys.stderr, flush=True)

    try:
        generator = Generator.load(chosen_folder(args) or DEFAULT_CHECKPOINT, args.device)
        if args.react is not None:
            partner = load_partner(args.react)
            result = generator.react(partner, args.prompt, sampler=SamplerSettings.from_args(args), progress=progress)
        else:
            prompts = [args.person_a, args.person_b] if (args.person_a or args.person_b) else None
            result = generator.generate(args.prompt, prompts=prompts, seconds=args.seconds,
                                        sampler=SamplerSettings.from_args(args), progress=progress)
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        for v, clip in enumerate(result.clips):
            path = clip.save(output_path(args.out, v, ".npz"))
            print(f"wrote {path} ({clip.num_frames} frames, {clip.seconds:.2f} s)")
            if args.preview is not None:
                from .preview_gif import preview

                print(f"wrote {preview(path, output_path(args.preview, v, '.gif'))}")
        print("timings: " + ", ".join(f"{k} {v:.3f}" for k, v in result.timings.items()))
    except GenerationError as exc:
        print(f"intermask sample: {exc.message} [{exc.code}]", file=sys.stderr)
        return 2
    except (ClipError, OSError, ValueError) as exc:
        print(f"intermask sample: {exc}", file=sys.stderr)
        return 2
    return 0
