"""The per-person 2D motion VQ-VAE: normalised 262-D features ⇄ a 5 × T/4 map of code ids.

The model carries the feature normalisation (mean/std, 262 each) as buffers, because its losses are
partly metric (positions in metres) and because ``decode`` must return features in the same normalised
space that ``encode`` takes, contacts included.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...motion.features import CONTACT, FEATURE_DIM, POS, ROT, VEL
from ...motion.protocol import FRAMES_PER_TOKEN
from ...motion.skeleton import NUM_JOINTS
from .config import VQConfig
from .encdec import Decoder, Encoder
from .layers import init_weights
from .quantizer import EMAQuantizer, QuantizerOutput

CONTACT_SLICE = CONTACT
TOKEN_JOINTS = 5
#: metres; the spread of a joint around the pelvis, so root-relative offsets enter at about unit scale
RELATIVE_SCALE = 0.3


def _channel_index() -> torch.Tensor:
    """[22, 12] index into the 262-D vector giving ``features.joint_channels``' layout as one gather.

    (pos3, vel3, rot6d per joint; -1 marks the root's absent rotation.) A tensor twin of the numpy
    function, kept equal to it by tests/test_vq.py.
    """
    index = torch.full((NUM_JOINTS, 12), -1, dtype=torch.long)
    for j in range(NUM_JOINTS):
        index[j, 0:3] = torch.arange(POS.start + 3 * j, POS.start + 3 * j + 3)
        index[j, 3:6] = torch.arange(VEL.start + 3 * j, VEL.start + 3 * j + 3)
        if j > 0:
            index[j, 6:12] = torch.arange(ROT.start + 6 * (j - 1), ROT.start + 6 * j)
    return index


@dataclass
class VQForward:
    """What one training pass produces."""

    features: torch.Tensor         # [B, T, 262] normalised reconstruction (contacts from the head)
    contact_logits: torch.Tensor   # [B, T, 4]
    quant: QuantizerOutput


class VQVAE(nn.Module):
    """Encoder → EMA quantiser → decoder over one person's motion."""

    mean: torch.Tensor
    std: torch.Tensor
    channel_index: torch.Tensor
    #: decoded contacts come from the contact head (the official VQ-VAE has none; the generator asks)
    predicts_contacts = True

    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        if cfg.feature_dim != FEATURE_DIM or cfg.joint_channels != 12:
            raise ValueError("the VQ-VAE is built for the 262-D feature with 12 channels per joint")
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = EMAQuantizer(cfg.codebook_size, cfg.code_dim, cfg.ema_decay, cfg.dead_code_threshold)
        self.decoder = Decoder(cfg)
        init_weights(self)
        self.register_buffer("mean", torch.zeros(FEATURE_DIM))
        self.register_buffer("std", torch.ones(FEATURE_DIM))
        self.register_buffer("channel_index", _channel_index(), persistent=False)

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Install the training data's feature mean/std (262 each)."""
        if mean.shape != (FEATURE_DIM,) or std.shape != (FEATURE_DIM,):
            raise ValueError(f"normalisation must be two ({FEATURE_DIM},) vectors, got {tuple(mean.shape)}, {tuple(std.shape)}")
        self.mean.copy_(mean)
        self.std.copy_(std)

    def denormalise(self, feats: torch.Tensor) -> torch.Tensor:
        return feats * self.std + self.mean

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean) / self.std

    def _check(self, feats: torch.Tensor) -> None:
        if feats.ndim != 3 or feats.shape[-1] != FEATURE_DIM:
            raise ValueError(f"features must be [batch, frames, {FEATURE_DIM}], got {tuple(feats.shape)}")
        if feats.shape[1] == 0 or feats.shape[1] % FRAMES_PER_TOKEN:
            raise ValueError(f"frame count must be a positive multiple of {FRAMES_PER_TOKEN}, got {feats.shape[1]}")

    def _position_stats(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-joint position mean and std [22, 3], and each joint's mean offset from the pelvis."""
        mean, std = self.mean[POS].view(NUM_JOINTS, 3), self.std[POS].view(NUM_JOINTS, 3)
        return mean, std, mean - mean[:1]

    def _to_relative(self, positions: torch.Tensor) -> torch.Tensor:
        """Normalised absolute positions [..., 22, 3] → pelvis unchanged, other joints as scaled offsets
        from the pelvis minus their mean offset (E[p_j - p_0] = mean_j - mean_0 exactly)."""
        mean, std, offset = self._position_stats()
        metres = positions * std + mean
        relative = (metres - metres[..., :1, :] - offset) / RELATIVE_SCALE
        return torch.cat([positions[..., :1, :], relative[..., 1:, :]], dim=-2)

    def _to_absolute(self, positions: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`_to_relative`."""
        mean, std, offset = self._position_stats()
        root = positions[..., :1, :] * std[:1] + mean[:1]
        absolute = (root + positions * RELATIVE_SCALE + offset - mean) / std
        return torch.cat([positions[..., :1, :], absolute[..., 1:, :]], dim=-2)

    def to_channels(self, feats: torch.Tensor) -> torch.Tensor:
        """[B, T, 262] → [B, 12, 22, T] (zero 6D for the root)."""
        padded = torch.cat([feats, feats.new_zeros(*feats.shape[:-1], 1)], dim=-1)
        gathered = padded[..., self.channel_index]            # -1 picks the appended zero
        if self.cfg.root_relative:
            gathered = torch.cat([self._to_relative(gathered[..., 0:3]), gathered[..., 3:]], dim=-1)
        return gathered.permute(0, 3, 2, 1)

    def from_channels(self, channels: torch.Tensor, contact_logits: torch.Tensor) -> torch.Tensor:
        """[B, 12, 22, T] + contact logits [B, T, 4] → normalised [B, T, 262]."""
        per_joint = channels.permute(0, 3, 2, 1)              # [B, T, 22, 12]
        positions = per_joint[..., 0:3]
        positions = (self._to_absolute(positions) if self.cfg.root_relative else positions).flatten(-2)
        velocities = per_joint[..., 3:6].flatten(-2)
        rotations = per_joint[:, :, 1:, 6:12].flatten(-2)
        probability = torch.sigmoid(contact_logits)
        contacts = (probability - self.mean[CONTACT_SLICE]) / self.std[CONTACT_SLICE]
        return torch.cat([positions, velocities, rotations, contacts], dim=-1)

    def _latents(self, feats: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        self._check(feats)
        z = self.encoder(self.to_channels(feats))             # [B, D, 5, T/4]
        return z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]), tuple(z.shape)  # type: ignore[return-value]

    def forward(self, feats: torch.Tensor) -> VQForward:
        flat, (b, d, j, t) = self._latents(feats)
        quant = self.quantizer(flat)
        z = quant.quantised.reshape(b, j, t, d).permute(0, 3, 1, 2)
        channels, logits = self.decoder(z)
        return VQForward(self.from_channels(channels, logits), logits, quant)

    @torch.no_grad()
    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """Normalised features [B, T, 262] (T a multiple of 4) → code ids [B, 5, T/4]."""
        flat, (b, _, j, t) = self._latents(feats)
        return self.quantizer.nearest(flat.float()).reshape(b, j, t)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Code ids [B, 5, T/4] → normalised features [B, T, 262] (contacts as probabilities)."""
        if codes.ndim != 3 or codes.shape[1] != TOKEN_JOINTS:
            raise ValueError(f"codes must be [batch, {TOKEN_JOINTS}, frames/4], got {tuple(codes.shape)}")
        z = self.quantizer.lookup(codes.long()).permute(0, 3, 1, 2)
        channels, logits = self.decoder(z)
        return self.from_channels(channels, logits)
