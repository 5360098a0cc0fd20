"""Inter-M Transformer ⇄ checkpoint file (format: ``vendor_models.checkpoint``).

The config stored is ``{"model": TransformerConfig, "text_encoder": name}``: the network shape plus the
name of the text encoder whose vectors it was trained on, so a checkpoint is never fed vectors of
another encoder.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import Checkpoint, CheckpointError, assigned, load_checkpoint
from ..vq.config import config_from_dict, config_to_dict
from .config import TransformerConfig
from .model import InterMTransformer

KIND = "transformer"


def file_key(path: str | Path) -> str:
    """Short SHA-1 of a file's bytes: names token caches and ties a transformer to the VQ-VAE file it was
    trained on (the generator refuses a pair whose VQ is not that file)."""
    h = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def transformer_checkpoint(model: InterMTransformer, text_encoder: str, meta: dict[str, Any],
                           train_state: dict[str, Any] | None = None) -> Checkpoint:
    config = {"model": config_to_dict(model.config), "text_encoder": text_encoder}
    return Checkpoint(KIND, config, model.state_dict(), meta=meta, train_state=train_state)


def transformer_from_checkpoint(ckpt: Checkpoint, source: str | Path = "checkpoint") -> tuple[InterMTransformer, str]:
    """Rebuild the network (eval mode) and return it with its text encoder's name; errors name ``source``."""
    try:
        config = config_from_dict(TransformerConfig, ckpt.config["model"])
        model = assigned(lambda: InterMTransformer(config), ckpt.state)
        encoder = str(ckpt.config["text_encoder"])
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint file {source} does not match this transformer code ({exc})") from exc
    return model.eval(), encoder


def load_transformer(path: str | Path, device: str | torch.device = "cpu") -> tuple[InterMTransformer, str, Checkpoint]:
    """Load a transformer checkpoint file → (model on ``device``, text encoder name, record)."""
    ckpt = load_checkpoint(path, kind=KIND)
    model, encoder = transformer_from_checkpoint(ckpt, path)
    return model.to(device), encoder, ckpt
