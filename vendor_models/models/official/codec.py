"""The official VQ-VAE as the generator's motion codec: normalisation, encode, and decode at batch 1.

The generator talks to a codec through ``normalise``/``denormalise``/``encode``/``decode`` and asks
``predicts_contacts``; our own :class:`~vendor_models.models.vq.vqvae.VQVAE` answers the same calls. Two
things differ for the release:

- its graph layers only give neighbour messages to the first skeleton of a batch (the quirk in
  :mod:`.vq`), and the official ``infer.py`` decodes each person on its own at batch 1. Decoding a batch
  at once would give every item but the first other numbers, so each item is decoded alone;
- it has no contact head (its contact channels are 0 before de-normalising), so ``predicts_contacts`` is
  False and the generator derives contacts from the decoded positions.

The normalisation is the user's ``global_mean.npy``/``global_std.npy``, stored in the model folder at import.
"""

from __future__ import annotations

import torch

from ...motion.features import FEATURE_DIM
from .vq import OfficialVQVAE


class OfficialCodec:
    """An :class:`OfficialVQVAE` plus its feature statistics, on one device."""

    predicts_contacts = False

    def __init__(self, vq: OfficialVQVAE, mean: torch.Tensor, std: torch.Tensor) -> None:
        if mean.shape != (FEATURE_DIM,) or std.shape != (FEATURE_DIM,):
            raise ValueError(f"statistics must be two ({FEATURE_DIM},) vectors, got {tuple(mean.shape)}, {tuple(std.shape)}")
        self.vq = vq.eval()
        device = next(vq.parameters()).device
        self.mean, self.std = mean.float().to(device), std.float().to(device)

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean) / self.std

    def denormalise(self, feats: torch.Tensor) -> torch.Tensor:
        return feats * self.std + self.mean

    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """Normalised ``[B, T, 262]`` → code ids ``[B, 5, T/4]``, each item encoded alone (see module doc)."""
        return torch.cat([self.vq.encode(feats[i:i + 1]) for i in range(feats.shape[0])])

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Code ids ``[B, 5, L]`` → normalised ``[B, 4L, 262]``, each item decoded alone at batch 1."""
        return torch.cat([self.vq.decode(codes[i:i + 1]) for i in range(codes.shape[0])])
