"""VQ-VAE training data: 64-frame windows of every real person's motion, as normalised 262-D features.

Why segments: the generator makes clips of up to 10 s in the canonical frame of their first frame, so
the VQ-VAE must reconstruct motion anywhere inside such a clip. Each cached clip is therefore cut into
overlapping 10-second segments, each canonicalised like a generated clip (``features.pair_features``:
person 1 at the origin facing +Z; person 2 placed relative to person 1), and windows are taken inside
the segments. Every person of a pair and every single is its own sequence; mirrored copies double them.
Windows are indexed, not copied, so memory stays at the size of the sequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..motion.clip_file import Clip, ClipError
from ..motion.features import FEATURE_DIM, mirror_features, pair_features
from ..motion.protocol import FRAMES_PER_TOKEN

SEGMENT_FRAMES = 301        # 300 feature rows = 10 s, the longest generated clip
SEGMENT_HOP = 150
STD_FLOOR = 1e-3            # channels that barely move must not blow up in normalised space


def segment_starts(frames: int, length: int = SEGMENT_FRAMES, hop: int = SEGMENT_HOP) -> list[int]:
    """Start frames of overlapping segments covering a clip (one short segment for a short clip)."""
    if frames <= length:
        return [0]
    starts = list(range(0, frames - length + 1, hop))
    if starts[-1] + length < frames:
        starts.append(frames - length)
    return starts


def person_sequences(paths: list[Path], hop: int = SEGMENT_HOP, mirrored: bool = True) -> list[np.ndarray]:
    """Per-person feature sequences [T, 262] (float32) from clip files, segmented and canonicalised."""
    sequences: list[np.ndarray] = []
    for path in paths:
        try:
            clip = Clip.load(path)
        except (ClipError, OSError) as exc:
            raise ClipError(f"cannot read training clip {path}: {exc}") from exc
        for start in segment_starts(clip.num_frames, hop=hop):
            end = start + SEGMENT_FRAMES
            part = Clip(clip.positions[start:end], clip.rotations[start:end], clip.contacts[start:end],
                        clip.fps, clip.meta)
            if part.num_frames < 2:
                continue
            feats = pair_features(part).astype(np.float32)          # [T-1, P, 262]
            for person in range(feats.shape[1]):
                sequences.append(feats[:, person])
                if mirrored:
                    sequences.append(mirror_features(feats[:, person]).astype(np.float32))
    return sequences


def feature_stats(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (floored) std over all frames of the sequences, float32 (262,) each."""
    frames = np.concatenate(sequences, axis=0).astype(np.float64)
    return frames.mean(0).astype(np.float32), np.maximum(frames.std(0), STD_FLOOR).astype(np.float32)


@dataclass
class WindowSet:
    """Normalised sequences and the (sequence, start) of every window."""

    sequences: list[np.ndarray]
    index: np.ndarray           # [N, 2] int64
    window: int

    @classmethod
    def build(cls, sequences: list[np.ndarray], mean: np.ndarray, std: np.ndarray, window: int, stride: int) -> WindowSet:
        if window % FRAMES_PER_TOKEN:
            raise ValueError(f"window must be a multiple of {FRAMES_PER_TOKEN} frames, got {window}")
        normalised = [((s - mean) / std).astype(np.float32) for s in sequences if len(s) >= window]
        pairs = [(i, start) for i, s in enumerate(normalised) for start in range(0, len(s) - window + 1, stride)]
        if not pairs:
            raise ValueError(f"no sequence is at least {window} frames long")
        return cls(normalised, np.asarray(pairs, dtype=np.int64), window)

    def __len__(self) -> int:
        return len(self.index)

    def batch(self, rows: np.ndarray) -> np.ndarray:
        """Windows for the given row numbers of the index → [len(rows), window, 262]."""
        return np.stack([self.sequences[i][s:s + self.window] for i, s in self.index[rows]])

    def sample(self, batch_size: int, seed: int, step: int) -> np.ndarray:
        """A random batch that depends only on (seed, step), so a resumed run sees the same batches."""
        rng = np.random.default_rng([seed, step])
        return self.batch(rng.integers(0, len(self), size=batch_size))


def check_stats(mean: np.ndarray, std: np.ndarray, source: str) -> None:
    """Normalisation vectors must be finite (262,) with positive std."""
    if mean.shape != (FEATURE_DIM,) or std.shape != (FEATURE_DIM,) or not np.isfinite(mean).all() or (std <= 0).any():
        raise ValueError(f"{source}: normalisation stats must be finite ({FEATURE_DIM},) vectors with std > 0")
