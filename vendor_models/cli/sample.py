"""``intermask sample``: generate two-person clips, a reaction, a long take, or an edit in time of a clip.

    intermask sample "PROMPT" --seconds 6 --seed 1 --out clip.npz [--preview x.gif] [--variations N]
    intermask sample --react partner.npz|partner.bvh "PROMPT" --out clip.npz      # partners up to 60 s
    intermask sample "PROMPT" --seconds 30 --out take.npz                        # 10-60 s: overlapping windows
    intermask sample --seconds 30 --segments FILE --out take.npz                 # the prompt changes along it
    intermask sample --edit CLIP.npz --frames A:B [--person a|b|both] ["PROMPT"] --out edited.npz
    intermask sample --extend CLIP.npz --seconds N ["PROMPT"] --out longer.npz
    intermask sample "PROMPT" --model NAME --out clip.npz      # an imported model (intermask models list)

``--frames A:B`` counts clip frames at 30 fps from 0, both ends included; only those frames change
(``--person`` chooses whose). Without a PROMPT an edit or extension uses the clip's own.

A segments FILE is one ``SECONDS PROMPT`` line per segment (``#`` starts a comment), or JSON
``[{"prompt": "...", "seconds": 12}, ...]``. Segments are laid end to end; with ``--seconds`` the take
has that length and the last segment that starts in it runs to its end.

With several variations the files are ``clip.npz``, ``clip_v1.npz``, … (and likewise for the preview).
Every failure is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..generation.errors import GenerationError
from ..motion.clip_file import ClipError
from ..motion.model_store import add_model_arguments, chosen_folder
from ..motion.protocol import (
    PERSONS,
    Edit,
    Extend,
    Generate,
    JobRequest,
    React,
    SamplerSettings,
    add_sampler_arguments,
    fit_segments,
    new_job_id,
    parse_segments,
)

DEFAULT_SECONDS = 6.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="intermask sample", description=__doc__.splitlines()[0])
    parser.add_argument("prompt", nargs="?", default="", help="what the two people do (English)")
    parser.add_argument("--out", type=Path, required=True, help="clip file to write (.npz)")
    parser.add_argument("--seconds", type=float, help=f"clip length, 1-60 s (default {DEFAULT_SECONDS:g}); "
                        "with --extend: how much to add")
    add_sampler_arguments(parser)
    parser.add_argument("--person-a", default="", help="extra prompt for person A")
    parser.add_argument("--person-b", default="", help="extra prompt for person B")
    parser.add_argument("--react", type=Path, help="partner clip (.npz, one person) or BVH file: generate its partner")
    parser.add_argument("--segments", type=Path, help="prompt timeline: 'SECONDS PROMPT' lines or JSON (see above)")
    parser.add_argument("--edit", type=Path, help="two-person clip (.npz) to regenerate a stretch of (--frames)")
    parser.add_argument("--frames", help="the stretch to regenerate, A:B in clip frames (30 fps, both included)")
    parser.add_argument("--person", choices=PERSONS, default="both", help="whose motion the edit regenerates")
    parser.add_argument("--extend", type=Path, help="two-person clip (.npz) to continue by --seconds")
    parser.add_argument("--preview", type=Path, help="also draw the clip as a GIF")
    add_model_arguments(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    return parser.parse_args(argv)


def output_path(out: Path, variation: int, suffix: str) -> Path:
    base = out.with_suffix(suffix)
    return base if variation == 0 else base.with_name(f"{base.stem}_v{variation}{suffix}")


def frame_range(text: str | None) -> tuple[int, int]:
    """``--frames A:B`` → (A, B); a ``ValueError`` saying what is expected otherwise."""
    first, sep, last = (text or "").partition(":")
    try:
        if not sep:
            raise ValueError
        return int(first), int(last)
    except ValueError:
        raise ValueError(f"--frames must be A:B (clip frames, e.g. 60:119), got {text!r}") from None


def build_request(args: argparse.Namespace) -> JobRequest:
    """The protocol request the arguments describe (the worker would get the same one)."""
    sampler = SamplerSettings.from_args(args)
    if sum(x is not None for x in (args.react, args.edit, args.extend)) > 1:
        raise ValueError("choose one of --react, --edit and --extend")
    if args.frames is not None and args.edit is None:
        raise ValueError("--frames goes with --edit")
    if args.edit is not None:
        first, last = frame_range(args.frames)
        return Edit(new_job_id(), clip=str(args.edit), first=first, last=last, person=args.person,
                    prompt=args.prompt, sampler=sampler)
    if args.extend is not None:
        if args.seconds is None:
            raise ValueError("--extend needs --seconds: how many seconds to add")
        return Extend(new_job_id(), clip=str(args.extend), seconds=args.seconds, prompt=args.prompt, sampler=sampler)
    segments = parse_segments(args.segments.read_text(encoding="utf-8")) if args.segments is not None else []
    if segments and args.seconds is not None:
        segments = fit_segments(segments, args.seconds)
    if not segments and not args.prompt:
        raise ValueError("give a PROMPT (or --segments FILE)")
    if args.react is not None:
        return React(new_job_id(), prompt=args.prompt, partner=str(args.react), sampler=sampler, segments=segments)
    prompts = [args.person_a, args.person_b] if (args.person_a or args.person_b) else []
    seconds = DEFAULT_SECONDS if args.seconds is None else args.seconds
    return Generate(new_job_id(), prompt=args.prompt or segments[0].prompt, prompts=prompts, seconds=seconds,
                    sampler=sampler, segments=segments)


def main(argv: list[str]) -> int:
    args = parse_args(argv)

    def progress(step: int, total: int, stage: str) -> None:
        if stage == "sampling":
            print(f"\r{stage} {step}/{total}", end="" if step < total else "\n", file=sys.stderr, flush=True)

    try:
        request = build_request(args)                 # bad arguments are named before torch is imported
        from ..generation.generator import DEFAULT_CHECKPOINT, Generator
        from ..generation.jobs import run_request

        generator = Generator.load(chosen_folder(args) or DEFAULT_CHECKPOINT, args.device)
        result = run_request(generator, request, progress)
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
    except (ClipError, OSError, ValueError) as exc:  # ProtocolError is a ValueError: a bad segments file
        print(f"intermask sample: {exc}", file=sys.stderr)
        return 2
    return 0
