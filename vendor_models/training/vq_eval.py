"""Held-out evaluation of a VQ-VAE: reconstruction MPJPE (mm) and codebook usage.

Windows are taken with a fixed stride and no mirroring, so the number is comparable between runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..models.vq import VQVAE
from ..models.vq.losses import positions_of
from ..motion.protocol import FRAMES_PER_TOKEN
from .datasets import WindowSet


@torch.no_grad()
def evaluate_vq(model: VQVAE, windows: WindowSet, batch_size: int = 64) -> dict[str, Any]:
    """MPJPE (mm, mean over windows/frames/joints), share of codes used and code perplexity."""
    was_training = model.training
    model.eval()
    errors: list[np.ndarray] = []
    counts = torch.zeros(model.cfg.codebook_size)
    try:
        for first in range(0, len(windows), batch_size):
            target = torch.from_numpy(windows.batch(np.arange(first, min(first + batch_size, len(windows)))))
            codes = model.encode(target)
            recon = model.decode(codes)
            counts += torch.bincount(codes.flatten(), minlength=model.cfg.codebook_size).float()
            err = (positions_of(model, recon) - positions_of(model, target)).norm(dim=-1)   # [B, T, 22] metres
            errors.append(err.mean(dim=(1, 2)).numpy())
    finally:
        model.train(was_training)
    per_window = np.concatenate(errors) * 1000.0
    probs = counts / counts.sum()
    perplexity = float(torch.exp(-(probs * torch.log(probs + 1e-10)).sum()))
    return {
        "mpjpe_mm": float(per_window.mean()),
        "mpjpe_mm_median_window": float(np.median(per_window)),
        "windows": len(per_window),
        "codes_used_fraction": float((counts > 0).float().mean()),
        "code_perplexity": perplexity,
    }


@torch.no_grad()
def evaluate_sequences(model: VQVAE, sequences: list[np.ndarray]) -> dict[str, Any]:
    """MPJPE (mm) of whole normalised sequences (up to 10 s each, trimmed to a multiple of 4 frames).

    This is how the generator uses the decoder: one token map for a whole clip, not 64-frame windows.
    """
    was_training = model.training
    model.eval()
    total, frames = 0.0, 0
    try:
        for seq in sequences:
            usable = len(seq) - len(seq) % FRAMES_PER_TOKEN
            if usable == 0:
                continue
            target = torch.from_numpy(seq[None, :usable])
            recon = model.decode(model.encode(target))
            err = (positions_of(model, recon) - positions_of(model, target)).norm(dim=-1).mean(dim=-1)  # [1, T]
            total += float(err.sum())
            frames += usable
    finally:
        model.train(was_training)
    return {"mpjpe_mm": 1000.0 * total / max(frames, 1), "frames": frames}
