"""Held-out report of a VQ-VAE measured as ``intermask eval`` measures it, cheap enough to run during training.

Why a second evaluation next to :mod:`vq_eval`: the training loop's val number uses 64-frame windows of
every held-out person (singles included), which says how well the network fits, but the figure the project
is judged by is the ``VQ reconstruction`` row of ``EVAL.md``: 4-second pair windows of the held-out salsa
trials, each person encoded and decoded as generation decodes (smoothed), MPJPE in mm and FID in the
project's evaluator space against a second cut of the same clips. This module computes exactly that row
(through :func:`evaluation.suite.vq_reconstruction`, the suite's own code) for the val and test splits, and
splits the error into the root trajectory (pelvis position) and the pose around it, because a conv VQ-VAE
can fail at either for different reasons (absolute position over a window versus joint detail).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.build import load_split
from ..evaluation.evaluator import Evaluator, load_evaluator
from ..evaluation.metrics import fid
from ..evaluation.suite import FULL, vq_reconstruction
from ..evaluation.windows import load_windows, window_features
from ..models.vq import VQVAE
from ..motion.features import POS
from ..motion.skeleton import NUM_JOINTS


@dataclass
class HeldOutPairs:
    """The real 4-s pair windows of one split, their features, and the evaluator's reference embeddings."""

    split: str
    windows: list[Any]           # evaluation.windows.Window
    positions: np.ndarray        # [B, T-1, 2, 22, 3] canonical joint positions of the real windows (m)
    reference: np.ndarray        # evaluator embeddings of the half-stride-shifted cut (FID's real side)

    @classmethod
    def load(cls, split: str, evaluator: Evaluator, cache: Path | None = None) -> HeldOutPairs:
        """Windows every 2 s and the shifted reference cut, as the full ``intermask eval`` takes them."""
        paths = load_split(split, people=2, cache=cache)
        stride, seed = FULL.stride, FULL.seed
        windows = load_windows(paths, stride=stride, seed=seed)
        reference = load_windows(paths, stride=stride, seed=seed, offset=stride // 2)
        feats = window_features([w.clip for w in windows])
        positions = feats[..., POS].reshape(*feats.shape[:3], NUM_JOINTS, 3)
        return cls(split, windows, positions, evaluator.embed_motions(window_features([w.clip for w in reference])))


def reconstruction_report(vq: VQVAE, pairs: HeldOutPairs, evaluator: Evaluator) -> dict[str, float]:
    """MPJPE, its root-trajectory and root-relative parts (mm), and reconstruction FID on one split."""
    clips, mpjpe = vq_reconstruction(vq, pairs.windows)
    frames = clips[0].num_frames - 1                       # the decoded rows (a multiple of 4)
    rec = np.stack([c.positions[:frames] for c in clips])  # [B, t, 2, 22, 3]
    real = pairs.positions[:, :frames]
    root_error = np.linalg.norm(rec[..., 0, :] - real[..., 0, :], axis=-1)
    pose_error = np.linalg.norm((rec - rec[..., :1, :]) - (real - real[..., :1, :]), axis=-1)
    return {
        "mpjpe_mm": mpjpe,
        "root_mm": float(root_error.mean() * 1000.0),
        "root_final_mm": float(root_error[:, -1].mean() * 1000.0),
        "pose_mm": float(pose_error.mean() * 1000.0),
        "fid": fid(pairs.reference, evaluator.embed_motions(window_features(clips))),
        "windows": len(pairs.windows),
    }


class HeldOutReport:
    """Loads the evaluator and both held-out splits once; :meth:`__call__` reports a model on each."""

    def __init__(self, cache: Path | None = None, evaluator_dir: Path | None = None) -> None:
        self.evaluator, _ = load_evaluator(evaluator_dir) if evaluator_dir else load_evaluator()
        self.splits = [HeldOutPairs.load(name, self.evaluator, cache) for name in ("val", "test")]

    def __call__(self, vq: VQVAE) -> dict[str, dict[str, float]]:
        was_training = vq.training
        vq.eval()
        try:
            return {pairs.split: reconstruction_report(vq, pairs, self.evaluator) for pairs in self.splits}
        finally:
            vq.train(was_training)
