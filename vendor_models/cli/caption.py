"""`intermask caption clip.npz [--window a:b] [-n N] [--seed S] [--json]`: what the captioner says about a clip.

Lets a person check the captioner's words against a motion they can see (e.g. with `intermask preview`), and
shows the numbers each rule was decided on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from ..data.captioner import CaptionError, describe, measure
from ..motion.clip_file import Clip, ClipError


def _window(text: str | None, clip: Clip) -> slice:
    """Frames of ``a:b`` (seconds; either side may be empty), checked against the clip's length."""
    if text is None:
        return slice(0, clip.num_frames)
    try:
        a_text, b_text = text.split(":")
        a = float(a_text) if a_text else 0.0
        b = float(b_text) if b_text else clip.seconds
    except ValueError as exc:
        raise CaptionError(f"--window must be START:END in seconds, e.g. 2:8, got {text!r}") from exc
    first, last = int(round(a * clip.fps)), int(round(b * clip.fps))
    if not 0 <= first < last <= clip.num_frames or last - first < 2:
        raise CaptionError(f"--window {text} is outside the clip's 0:{clip.seconds:.2f} s or shorter than 2 frames")
    return slice(first, last)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="intermask caption", description=__doc__.splitlines()[0])
    parser.add_argument("clip", help="two-person clip file (.npz)")
    parser.add_argument("--window", help="START:END in seconds (default: the whole clip)")
    parser.add_argument("-n", type=int, default=3, help="number of phrasings (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print measurements and captions as JSON")
    args = parser.parse_args(argv)
    try:
        clip = Clip.load(args.clip)
        if clip.num_people != 2:
            raise CaptionError(f"{args.clip}: the captioner describes two people, this clip has {clip.num_people}")
        frames = _window(args.window, clip)
        pos, con = clip.positions[frames], clip.contacts[frames]
        texts = describe(pos, con, clip.fps, np.random.default_rng(args.seed), n=args.n)
        numbers = dataclasses.asdict(measure(pos, con, clip.fps))
    except (ClipError, CaptionError) as exc:
        print(f"intermask caption: {exc}")
        return 2
    if args.json:
        print(json.dumps({"measures": numbers, "captions": texts}, indent=2))
    else:
        for key, value in numbers.items():
            print(f"{key:>20}: {value}")
        print()
        print("\n".join(texts))
    return 0
