"""The options of ``intermask generate``/``react`` that reach past one 10 s clip: long takes, prompt
segments, continuing a clip and regenerating a stretch of it.

They mirror ``intermask sample`` (same names, same meaning; clip frames counted at 30 fps from 0) so a take
made with ``sample`` can be edited into a .blend and the other way round. Every option is checked here,
before a rig is loaded or the worker started, so a typo costs nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..seam import protocol

DEFAULT_SECONDS = 6.0


def add_take_arguments(parser: argparse.ArgumentParser, react: bool) -> None:
    """``--seconds --segments`` for both commands; ``--extend --edit --frames --person`` for generate."""
    parser.add_argument("--segments", type=Path, metavar="FILE",
                        help="prompt timeline: one 'SECONDS PROMPT' line per segment, or JSON "
                             '[{"prompt": ..., "seconds": ...}]; replaces PROMPT')
    if react:
        return
    parser.add_argument("--seconds", type=float,
                        help=f"length, {protocol.MIN_SECONDS:g}-{protocol.MAX_TAKE_SECONDS:g} s (default "
                             f"{DEFAULT_SECONDS:g}; over {protocol.MAX_SECONDS:g} s in overlapping windows); "
                             "with --extend: how many seconds to add")
    parser.add_argument("--extend", type=Path, metavar="CLIP.npz", help="continue this two-person clip by --seconds")
    parser.add_argument("--edit", type=Path, metavar="CLIP.npz",
                        help="regenerate a stretch (--frames) of this two-person clip, keeping the rest")
    parser.add_argument("--frames", metavar="A:B", help="the stretch --edit regenerates: clip frames at 30 fps "
                                                        "from 0, both ends included")
    parser.add_argument("--person", choices=protocol.PERSONS, default="both", help="whose motion --edit regenerates")


def clip_frames(text: str) -> tuple[int, int]:
    """``--frames A:B`` → (A, B)."""
    first, sep, last = text.partition(":")
    try:
        if not sep:
            raise ValueError
        pair = int(first), int(last)
    except ValueError:
        raise UsageError(f"--frames must be A:B (clip frames at 30 fps, e.g. 60:119), not {text!r}") from None
    if not 0 <= pair[0] <= pair[1]:
        raise UsageError(f"--frames {text}: A must be at least 0 and B at least A")
    return pair


def _segments(args: argparse.Namespace, seconds: float | None) -> list[protocol.Segment]:
    if args.segments is None:
        return []
    try:
        segments = protocol.parse_segments(args.segments.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--segments file not found: {args.segments}") from None
    except (UnicodeDecodeError, protocol.ProtocolError) as exc:
        raise UsageError(f"--segments {args.segments}: {exc}") from None
    if not segments:
        raise UsageError(f"--segments {args.segments} holds no segment")
    return protocol.fit_segments(segments, seconds) if seconds is not None else segments


def _clip_path(path: Path, option: str) -> str:
    if not path.is_file():
        raise UsageError(f"{option} clip not found: {path}")
    return str(path.resolve())


def build_request(args: argparse.Namespace, react: bool, sampler: protocol.SamplerSettings, out_dir: str = "",
                  partner: str = "") -> protocol.JobRequest:
    """The worker request the command line asks for; a :class:`UsageError` naming the option otherwise.

    Called once with no partner to check the options before any work, and again with the partner's clip."""
    edit, extend = getattr(args, "edit", None), getattr(args, "extend", None)
    seconds = getattr(args, "seconds", None)
    if edit is not None and extend is not None:
        raise UsageError("choose one of --edit and --extend")
    if getattr(args, "frames", None) is not None and edit is None:
        raise UsageError("--frames goes with --edit")
    if args.segments is not None and (edit is not None or extend is not None):
        raise UsageError("--segments makes a new take; it does not go with --edit or --extend")
    if edit is not None:
        if args.frames is None:
            raise UsageError("--edit needs --frames A:B: the stretch to regenerate")
        if seconds is not None:
            raise UsageError("--edit keeps the clip's length; leave out --seconds")
        first, last = clip_frames(args.frames)
        return protocol.Edit(protocol.new_job_id(), clip=_clip_path(edit, "--edit"), first=first, last=last,
                             person=args.person, prompt=args.prompt, sampler=sampler, out_dir=out_dir)
    if extend is not None:
        if seconds is None:
            raise UsageError("--extend needs --seconds: how many seconds to add")
        return protocol.Extend(protocol.new_job_id(), clip=_clip_path(extend, "--extend"), seconds=seconds,
                               prompt=args.prompt, sampler=sampler, out_dir=out_dir)
    if seconds is not None and not protocol.MIN_SECONDS <= seconds <= protocol.MAX_TAKE_SECONDS:
        raise UsageError(f"--seconds must be within {protocol.MIN_SECONDS:g}-{protocol.MAX_TAKE_SECONDS:g}, "
                         f"not {seconds:g}")
    segments = _segments(args, seconds)
    prompt = args.prompt or (segments[0].prompt if segments else "")
    if not prompt:
        raise UsageError("give a PROMPT (or --segments FILE)")
    if segments and seconds is None and not react:
        seconds = sum(segment.seconds for segment in segments)
    return protocol.job_request(prompt, sampler, out_dir, seconds=DEFAULT_SECONDS if seconds is None else seconds,
                                partner=partner, segments=segments)
