"""Reaction mode helpers: check and cut the given partner clip, and map generated motion back into the
partner's world frame.

The model works in the canonical frame of person 1 (``motion.canonical``). For a reaction the partner is
person 1, so the canonical frame is the partner's own, and :func:`into_partner_world` applies its inverse.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..motion.canonical import canonical_frame
from ..motion.clip_file import Clip, ClipError
from ..motion.protocol import FRAMES_PER_TOKEN, MAX_SECONDS, MIN_SECONDS, ErrorCode
from ..motion.resampling import resample_clip
from ..motion.skeleton import FPS
from .errors import GenerationError


def load_partner(path: str | Path) -> Clip:
    """The partner of a reaction from a clip file (.npz) or a BVH file (converted to our skeleton); a
    ``bad_partner`` error naming the file otherwise. The worker and ``intermask sample --react`` both use it."""
    if not str(path):
        raise GenerationError(ErrorCode.BAD_PARTNER, "a reaction needs the partner: a one-person clip or BVH file")
    path = Path(path)
    try:
        if path.suffix.lower() == ".bvh":
            from ..data.bvh import BvhError
            from ..data.convert import convert

            try:
                return convert([path])
            except BvhError as exc:
                raise ClipError(f"{path}: {exc}") from exc
        return Clip.load(path)
    except (ClipError, OSError) as exc:
        raise GenerationError(ErrorCode.BAD_PARTNER, str(exc)) from exc


def partner_window(partner: object, warnings: list[str], longest: float = MAX_SECONDS) -> Clip:
    """The partner as a 30 fps one-person clip of 4·k + 1 frames (k token steps, 1 s to ``longest``)."""
    if not isinstance(partner, Clip):
        raise GenerationError(ErrorCode.BAD_PARTNER, f"the partner must be a clip, got {type(partner).__name__}")
    if partner.num_people != 1:
        raise GenerationError(ErrorCode.BAD_PARTNER,
                              f"the partner clip must hold exactly one person, it has {partner.num_people}")
    clip = partner
    if abs(float(partner.fps) - FPS) > 1e-6:
        clip = resample_clip(partner, FPS)
        warnings.append(f"the partner clip was resampled from {float(partner.fps):g} fps to {FPS:g} fps")
    need = int(np.ceil(MIN_SECONDS * FPS))
    if clip.num_frames - 1 < need:
        raise GenerationError(ErrorCode.BAD_PARTNER, f"the partner clip is too short: {clip.num_frames} frames, "
                              f"at least {need + 1} ({MIN_SECONDS:g} s at {FPS:g} fps) are needed")
    rows = min(clip.num_frames - 1, int(longest * FPS)) // FRAMES_PER_TOKEN * FRAMES_PER_TOKEN
    if clip.num_frames - 1 > longest * FPS:
        warnings.append(f"the partner clip is longer than {longest:g} s; only its first {longest:g} s are used")
    end = rows + 1
    return Clip(clip.positions[:end], clip.rotations[:end], clip.contacts[:end], FPS, dict(clip.meta))


def into_partner_world(clip: Clip, partner: Clip) -> Clip:
    """A generated person from the partner's canonical frame back into the partner's world, on its floor.

    ``partner`` is the window whose features conditioned the model; :func:`canonical_frame` is the frame
    those features were made in, so this is its exact inverse.
    """
    frame = canonical_frame(partner.positions)
    positions, rotations = frame.invert(clip.positions, clip.rotations, floors=frame.floors[:1])
    return Clip(positions, rotations, clip.contacts, clip.fps, dict(clip.meta))
