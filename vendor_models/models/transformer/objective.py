"""The masked-token training objective of the Inter-M Transformer (InterMask §2.2).

Per batch: either cosine-scheduled random masking over both people's tokens, or (with probability
``interaction_mask_prob``) *interaction masking*, where half of the batch has person 1 fully masked and
the other half person 2, which is what teaches reaction generation. Masked positions are corrupted
BERT-style (random code / MASK / kept), the text is dropped for classifier-free guidance, and the loss
is cross-entropy on masked positions only. An optional step-unroll pass fills in the model's most
confident guesses as one step of the 20-step sampler would and trains on what is still masked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import ObjectiveConfig
from .model import InterMTransformer


def cosine_schedule(t: torch.Tensor) -> torch.Tensor:
    """Mask ratio at time ``t`` in [0, 1]: 1 at the start of sampling, 0 at the end."""
    return torch.cos(t * math.pi / 2)


def cosine_schedule_inverse(ratio: torch.Tensor) -> torch.Tensor:
    return torch.acos(ratio.clamp(0, 1)) * 2 / math.pi


def valid_mask(lengths: torch.Tensor, steps: int, groups: int) -> torch.Tensor:
    """``[B, 2, G, L]`` True where the token is inside its item's length."""
    inside = torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]
    return inside[:, None, None, :].expand(-1, 2, groups, steps)


def top_k_filter(logits: torch.Tensor, keep_ratio: float) -> torch.Tensor:
    """Keep the ``ceil((1 - keep_ratio)·K)`` largest logits of each row (InterMask's ``topkr``); a sampling
    primitive like :func:`lowest_ranked`, shared by our sampler and the official-generation replay."""
    k = max(1, math.ceil((1.0 - keep_ratio) * logits.shape[-1]))
    threshold = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < threshold, float("-inf"))


def lowest_ranked(scores: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """``[B, N]`` True for the ``count[b]`` lowest scores of each row."""
    ranks = scores.argsort(dim=1).argsort(dim=1)
    return ranks < count[:, None]


@dataclass
class LossOutput:
    loss: torch.Tensor
    ce: float
    accuracy: float
    unroll_ce: float


def _masked_ce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, float]:
    picked = logits[mask]
    target = labels[mask]
    ce = F.cross_entropy(picked, target)
    accuracy = float((picked.argmax(-1) == target).float().mean()) if target.numel() else 0.0
    return ce, accuracy


def _subset(mask: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    return mask & (torch.rand(mask.shape, generator=gen, device=mask.device) < prob)


def choose_mask(valid: torch.Tensor, cfg: ObjectiveConfig, gen: torch.Generator) -> torch.Tensor:
    """Positions to predict, ``[B, 2, G, L]``: cosine-random or one person fully (interaction)."""
    b = valid.shape[0]
    device = valid.device
    if float(torch.rand((), generator=gen)) < cfg.interaction_mask_prob:
        person = torch.zeros(b, 2, dtype=torch.bool, device=device)
        first = int(torch.rand((), generator=gen) < 0.5)
        person[: b // 2, first] = True
        person[b // 2:, 1 - first] = True
        return valid & person[:, :, None, None]
    flat_valid = valid.reshape(b, -1)
    ratio = cosine_schedule(torch.rand(b, generator=gen, device=device))
    count = (ratio * flat_valid.sum(1)).round().clamp(min=1)
    scores = torch.rand(flat_valid.shape, generator=gen, device=device).masked_fill(~flat_valid, 2.0)
    return lowest_ranked(scores, count).reshape(valid.shape) & valid


def masked_token_loss(model: InterMTransformer, ids: torch.Tensor, lengths: torch.Tensor, text: torch.Tensor,
                      cfg: ObjectiveConfig, gen: torch.Generator) -> LossOutput:
    """Loss for ``ids [B, 2, G, L]`` (codes; positions past ``lengths [B]`` are ignored) and ``text [B, Dt]``."""
    mc = model.config
    b, _, g, steps = ids.shape
    valid = valid_mask(lengths, steps, g)
    pad = ~valid[:, 0, 0, :]
    ids = torch.where(valid, ids, torch.full_like(ids, mc.pad_id))
    mask = choose_mask(valid, cfg, gen)

    random_pos = _subset(mask, cfg.random_token_prob, gen)
    x = torch.where(random_pos, torch.randint(0, mc.num_codes, ids.shape, generator=gen, device=ids.device), ids)
    mask_pos = _subset(mask & ~random_pos, cfg.mask_token_prob, gen)
    x = torch.where(mask_pos, torch.full_like(x, mc.mask_id), x)

    keep_text = (torch.rand(b, 1, generator=gen, device=text.device) >= cfg.text_drop_prob).to(text.dtype)
    text = text * keep_text
    logits = model(x, text, pad)
    ce, accuracy = _masked_ce(logits, ids, mask)
    loss = ce
    unroll = 0.0
    if cfg.step_unroll > 0:
        unroll_ce = _step_unroll(model, x, ids, mask_pos, valid, logits.detach(), text, pad, cfg)
        loss = loss + cfg.step_unroll * unroll_ce
        unroll = float(unroll_ce.detach())
    return LossOutput(loss, float(ce.detach()), accuracy, unroll)


def _step_unroll(model: InterMTransformer, x: torch.Tensor, ids: torch.Tensor, mask_pos: torch.Tensor,
                 valid: torch.Tensor, logits: torch.Tensor, text: torch.Tensor, pad: torch.Tensor,
                 cfg: ObjectiveConfig) -> torch.Tensor:
    """Fill the most confident MASK positions as the next sampler step would; CE on those left masked."""
    b = x.shape[0]
    flat_mask = mask_pos.reshape(b, -1)
    flat_valid = valid.reshape(b, -1)
    ratio = flat_mask.sum(1).float() / flat_valid.sum(1).clamp(min=1)
    next_ratio = cosine_schedule((cosine_schedule_inverse(ratio) + 1.0 / (cfg.unroll_steps + 1)).clamp(max=1))
    probs = logits.softmax(-1)
    confidence, guess = probs.max(-1)
    scores = confidence.reshape(b, -1).masked_fill(~flat_mask, 1e5)
    still = lowest_ranked(scores, (next_ratio * flat_valid.sum(1)).round().clamp(min=1)).reshape(x.shape) & mask_pos
    filled = mask_pos & ~still
    x2 = torch.where(filled, guess, x)
    ce, _ = _masked_ce(model(x2, text, pad), ids, still)
    return ce
