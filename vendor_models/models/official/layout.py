"""Official tensor layouts ⇄ ours for token ids, padding and logits.

The official code keeps both people in one flat row ``[B, 2·G·L]`` (person 1 group-major, then person
2), pads per time step (the same mask for every group of both people) and returns logits
``[B, num_codes, 2·G·L]``. Ours are ``[B, 2, G, L]`` ids, a ``[B, L]`` step mask and
``[B, 2, G, L, num_codes]`` logits: the same order, so these are reshapes plus checks.
"""

from __future__ import annotations

import torch


def _steps(width: int, groups: int) -> int:
    if width % (2 * groups):
        raise ValueError(f"an official token row of {width} is not 2 people × {groups} groups × L steps")
    return width // (2 * groups)


def ids_to_ours(flat: torch.Tensor, groups: int) -> torch.Tensor:
    """``[B, 2·G·L] → [B, 2, G, L]``."""
    return flat.reshape(flat.shape[0], 2, groups, _steps(flat.shape[1], groups))


def step_padding(mask: torch.Tensor, groups: int) -> torch.Tensor:
    """Official ``[B, 2·G·L]`` padding mask → our ``[B, L]``; refuses a mask that is not per time step."""
    rows = mask.reshape(mask.shape[0], 2 * groups, _steps(mask.shape[1], groups))
    if not torch.equal(rows, rows[:, :1].expand_as(rows)):
        raise ValueError("the padding mask differs between groups or people; only per-step padding is supported")
    return rows[:, 0]


def lengths_to_padding(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """Token lengths ``[B]`` → ``[B, steps]`` True past each length (the official ``generate`` mask)."""
    return torch.arange(steps, device=lengths.device)[None, :] >= lengths[:, None]


def logits_to_official(logits: torch.Tensor) -> torch.Tensor:
    """``[B, 2, G, L, K] → [B, K, 2·G·L]``."""
    return logits.reshape(logits.shape[0], -1, logits.shape[-1]).permute(0, 2, 1)
