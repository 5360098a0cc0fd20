"""VQ-VAE ⇄ checkpoint file (see ``vendor_models.checkpoint`` for the file format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..checkpoint import Checkpoint, CheckpointError, load_checkpoint
from .config import VQConfig, config_from_dict, config_to_dict
from .vqvae import VQVAE

KIND = "vq"


def vq_checkpoint(model: VQVAE, meta: dict[str, Any], train_state: dict[str, Any] | None = None) -> Checkpoint:
    """Package a VQ-VAE (with its normalisation) for :func:`vendor_models.checkpoint.save_checkpoint`."""
    return Checkpoint(KIND, config_to_dict(model.cfg), model.state_dict(), model.mean.cpu().numpy(),
                      model.std.cpu().numpy(), meta, train_state)


def vq_from_checkpoint(ckpt: Checkpoint, source: str | Path = "checkpoint") -> VQVAE:
    """Rebuild the network from a loaded checkpoint, in eval mode; errors name ``source``."""
    try:
        model = VQVAE(config_from_dict(VQConfig, ckpt.config))
        model.load_state_dict(ckpt.state)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint file {source} does not match this VQ-VAE code ({exc})") from exc
    return model.eval()


def load_vq(path: str | Path, device: str | torch.device = "cpu") -> tuple[VQVAE, Checkpoint]:
    """Load a VQ-VAE checkpoint file → (model on ``device`` in eval mode, checkpoint record)."""
    ckpt = load_checkpoint(path, kind=KIND)
    return vq_from_checkpoint(ckpt, path).to(device), ckpt
