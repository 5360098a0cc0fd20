"""Existing motion as tokens and decoded tokens back as motion, for edits in time (torch).

An edit works on a *piece* of a clip: the frames the sampling windows cover. The piece is canonicalised
at its own first frame (``motion.canonical``, as every training window was), encoded with the model's
VQ-VAE into each person's token map, filled in where it is masked, decoded ONCE as a whole, and taken
back to the clip's world with the exact inverse of that canonical frame. One decode per map matters for
the official VQ-VAE, whose graph layers treat frame 0 of each decode differently from the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..motion.canonical import CanonicalFrame, canonical_frame
from ..motion.clip_file import Clip
from ..motion.features import clip_from_features, pair_features
from ..motion.protocol import FRAMES_PER_TOKEN, ErrorCode
from ..motion.skeleton import FPS
from .errors import GenerationError

if TYPE_CHECKING:
    from .generator import Generator


@dataclass
class Piece:
    """Token maps of clip frames ``first_frame ..`` (``codes [P, G, L]``) and the frame they were made in."""

    codes: torch.Tensor
    frame: CanonicalFrame
    first_frame: int


def checked_clip(clip: object, people: int, what: str) -> Clip:
    """``clip`` if it is a 30 fps clip of ``people`` people with at least two frames; else a ``bad_clip`` error."""
    if not isinstance(clip, Clip):
        raise GenerationError(ErrorCode.BAD_CLIP, f"the {what} must be a clip, got {type(clip).__name__}")
    if clip.num_people != people:
        raise GenerationError(ErrorCode.BAD_CLIP, f"the {what} must hold {people} people, it has {clip.num_people}")
    if abs(float(clip.fps) - FPS) > 1e-6:
        raise GenerationError(ErrorCode.BAD_CLIP, f"the {what} is {float(clip.fps):g} fps; edits need {FPS:g} fps "
                              "clips (frames outside the edit are kept exactly, so it is not resampled)")
    if clip.num_frames < 2 * FRAMES_PER_TOKEN:
        raise GenerationError(ErrorCode.BAD_CLIP, f"the {what} is too short ({clip.num_frames} frames)")
    return clip


def encode_piece(generator: Generator, clip: Clip, first_column: int, columns: int) -> Piece:
    """Token maps of the ``columns`` token steps from column ``first_column`` of ``clip`` (the piece
    canonicalised at its first frame). Steps past the clip's end hold its last pose."""
    first = first_column * FRAMES_PER_TOKEN
    end = min(clip.num_frames, first + columns * FRAMES_PER_TOKEN + 1)
    held = first + columns * FRAMES_PER_TOKEN + 1 - end
    index = np.concatenate([np.arange(first, end), np.full(held, end - 1)])
    piece = Clip(clip.positions[index], clip.rotations[index], clip.contacts[index], clip.fps, {})
    feats = torch.from_numpy(np.moveaxis(pair_features(piece), 1, 0)).to(generator.torch_device)
    codes = generator.vq.encode(generator.vq.normalise(feats))
    return Piece(codes, canonical_frame(piece.positions), first)


def decode_people(generator: Generator, ids: torch.Tensor) -> np.ndarray:
    """Token maps ``[V, P, G, L]`` → de-normalised features ``[V, 4L, P, 262]``, each map decoded whole."""
    v, p = ids.shape[:2]
    feats = generator._decode(ids.reshape(v * p, *ids.shape[2:]))
    return np.moveaxis(feats.reshape(v, p, *feats.shape[1:]), 1, 2)


def in_world(feats: np.ndarray, piece: Piece, floors: np.ndarray | None = None) -> Clip:
    """Decoded features ``[T, P, 262]`` of a piece → a clip in the clip's world (frame 0 = the piece's first)."""
    canonical = clip_from_features(feats, FPS)
    positions, rotations = piece.frame.invert(canonical.positions, canonical.rotations, floors=floors)
    return Clip(positions, rotations, canonical.contacts, FPS)


def aligned(clip: Clip, part: Clip, first_frame: int, people: list[int]) -> Clip:
    """``clip`` with frames ``first_frame ..`` of ``people`` replaced by ``part``'s people (in order),
    grown to hold all of ``part``: the decoded motion frame-aligned with the clip, for ``joins.splice``."""
    total = max(clip.num_frames, first_frame + part.num_frames)
    index = np.minimum(np.arange(total), clip.num_frames - 1)
    positions, rotations, contacts = clip.positions[index], clip.rotations[index], clip.contacts[index]
    span = slice(first_frame, first_frame + part.num_frames)
    positions[span, people], rotations[span, people], contacts[span, people] = part.positions, part.rotations, part.contacts
    return Clip(positions, rotations, contacts, clip.fps, {})
