"""Encoder and decoder of the 2D motion VQ-VAE over a [B, C, joints, time] map.

Encoder: a per-joint input projection (12 → width) and joint-graph layers → 2 × [4×4 stride-2 conv + residual stack] → 3×3 conv to
the code dimension; joints 22 → 11 → 5 and time T → T/4. The decoder mirrors it with nearest-neighbour
upsampling (joints ×2.2 then ×2: 5 → 11 → 22; time ×2 twice) and ends in graph layers and a per-joint
projection back to 12 channels per joint, plus a small per-joint head that predicts the four foot-contact logits from the features of
the contact joints (InterMask's decoder outputs zeros there; clips need contacts for foot pinning).
"""

from __future__ import annotations

import torch
from torch import nn

from ...motion.skeleton import CONTACT_JOINTS, NUM_JOINTS
from .config import VQConfig
from .layers import JointGraphConv, PerJointLinear, act, res_stack

JOINT_UPSAMPLE = (2.2, 2.0)  # 5 → 11 → 22 with nearest-neighbour upsampling


def graph_stack(width: int, layers: int) -> nn.Sequential:
    """``layers`` graph convolutions, each followed by the activation (width → width)."""
    modules: list[nn.Module] = []
    for _ in range(layers):
        modules += [JointGraphConv(width, width), act()]
    return nn.Sequential(*modules)


class Encoder(nn.Module):
    """[B, 12, 22, T] → [B, code_dim, 5, T/4]."""

    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        w = cfg.width
        self.embed = nn.Sequential(PerJointLinear(NUM_JOINTS, cfg.joint_channels, w), act())
        self.graph = graph_stack(w, cfg.graph_layers)
        self.stages = nn.Sequential(*[
            nn.Sequential(nn.Conv2d(w, w, 4, stride=2, padding=1),
                          res_stack(w, cfg.res_depth, cfg.dilation_growth, cfg.dropout))
            for _ in range(2)
        ])
        self.out = nn.Conv2d(w, cfg.code_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.stages(self.graph(self.embed(x))))


class Decoder(nn.Module):
    """[B, code_dim, 5, T/4] → (channels [B, 12, 22, T], contact logits [B, T, 4])."""

    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        w = cfg.width
        self.inp = nn.Sequential(nn.Conv2d(cfg.code_dim, w, 3, padding=1), act())
        self.stages = nn.Sequential(*[
            nn.Sequential(res_stack(w, cfg.res_depth, cfg.dilation_growth, cfg.dropout),
                          nn.Upsample(scale_factor=(JOINT_UPSAMPLE[k], 2.0), mode="nearest"),
                          nn.Conv2d(w, w, 3, padding=1))
            for k in range(2)
        ])
        self.post = nn.Sequential(nn.Conv2d(w, w, 1), act())  # 1×1: full resolution is the costly part
        self.graph = graph_stack(w, cfg.graph_layers)
        self.to_channels = PerJointLinear(NUM_JOINTS, w, cfg.joint_channels)
        self.contact_joints = list(CONTACT_JOINTS)
        self.contact_head = PerJointLinear(len(CONTACT_JOINTS), w, 1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.graph(self.post(self.stages(self.inp(z))))
        if h.shape[2] != NUM_JOINTS:
            raise ValueError(f"decoder produced {h.shape[2]} joints, expected {NUM_JOINTS}")
        logits = self.contact_head(h[:, :, self.contact_joints, :])[:, 0]          # [B, 4, T]
        return self.to_channels(h), logits.transpose(1, 2)
