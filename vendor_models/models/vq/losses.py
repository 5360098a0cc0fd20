"""Training losses of the VQ-VAE and the reconstruction error we report.

Feature reconstruction is compared in normalised space (every channel counts about equally); the
geometric terms are compared in metres after de-normalising, so their weights mean something physical:
positions, frame-to-frame displacement, bone lengths, and foot displacement while the ground truth says
the foot is planted (foot skating). The contact head is trained with binary cross-entropy.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ...motion.skeleton import CONTACT_JOINTS, NUM_JOINTS, PARENTS
from .vqvae import CONTACT_SLICE, VQVAE, VQForward

_PARENTS = list(PARENTS[1:])
_CHILDREN = list(range(1, NUM_JOINTS))


def positions_of(model: VQVAE, feats: torch.Tensor) -> torch.Tensor:
    """Joint positions in metres [B, T, 22, 3] from normalised features."""
    return model.denormalise(feats)[..., :NUM_JOINTS * 3].reshape(*feats.shape[:-1], NUM_JOINTS, 3)


def bone_lengths(positions: torch.Tensor) -> torch.Tensor:
    """[..., 22, 3] → [..., 21] lengths of the bones to each joint's parent."""
    return (positions[..., _CHILDREN, :] - positions[..., _PARENTS, :]).norm(dim=-1)


def mpjpe_mm(model: VQVAE, target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error in millimetres between two normalised feature tensors."""
    return 1000.0 * (positions_of(model, output) - positions_of(model, target)).norm(dim=-1).mean()


def vq_losses(model: VQVAE, target: torch.Tensor, out: VQForward) -> dict[str, torch.Tensor]:
    """Weighted loss terms (and their sum under ``total``) for one batch of normalised windows."""
    cfg = model.cfg
    pred = out.features
    rec = F.smooth_l1_loss(pred[..., :CONTACT_SLICE.start], target[..., :CONTACT_SLICE.start])
    pos_t, pos_p = positions_of(model, target), positions_of(model, pred)
    positions = (pos_p - pos_t).abs().mean()
    vel_t, vel_p = pos_t[:, 1:] - pos_t[:, :-1], pos_p[:, 1:] - pos_p[:, :-1]
    velocity = (vel_p - vel_t).abs().mean()
    bones = (bone_lengths(pos_p) - bone_lengths(pos_t)).abs().mean()
    contact_t = (model.denormalise(target)[..., CONTACT_SLICE] > 0.5).float()       # [B, T, 4]
    planted = contact_t[:, :-1]
    foot_speed = vel_p[:, :, list(CONTACT_JOINTS)].norm(dim=-1)                       # [B, T-1, 4]
    foot = (foot_speed * planted).sum() / planted.sum().clamp(min=1.0)
    contact = F.binary_cross_entropy_with_logits(out.contact_logits, contact_t)
    terms = {
        "rec": rec, "commit": out.quant.commit_loss, "pos": positions, "vel": velocity,
        "bone": bones, "foot": foot, "contact": contact,
    }
    weights = {
        "rec": cfg.w_features, "commit": cfg.w_commit, "pos": cfg.w_positions, "vel": cfg.w_velocity,
        "bone": cfg.w_bones, "foot": cfg.w_foot, "contact": cfg.w_contact,
    }
    terms["total"] = sum((weights[k] * v for k, v in terms.items()), torch.zeros(()))
    return terms
