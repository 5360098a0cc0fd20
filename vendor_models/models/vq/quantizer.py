"""One-codebook vector quantiser with EMA codebook updates and dead-code reset.

Why EMA instead of a codebook loss: the codebook follows the running mean of the encoder outputs
assigned to each code, which is stable at small batch sizes. Codes whose running count drops under
``dead_threshold`` are re-seeded from random encoder outputs of the current batch, so the whole
codebook stays in use. Assignment is the nearest code (argmin); InterMask's Gumbel-noise sampling in
training is not used — on our small data deterministic assignment converged more predictably.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class QuantizerOutput:
    """Straight-through quantised vectors, code ids, commitment loss and codebook statistics."""

    quantised: torch.Tensor   # [N, D], gradients flow to the input (straight-through)
    codes: torch.Tensor       # [N] int64
    commit_loss: torch.Tensor
    perplexity: torch.Tensor
    used_fraction: torch.Tensor


class EMAQuantizer(nn.Module):
    """Nearest-code quantiser over ``size`` codes of ``dim`` channels."""

    codebook: torch.Tensor
    ema_count: torch.Tensor
    ema_sum: torch.Tensor
    initialised: torch.Tensor

    def __init__(self, size: int, dim: int, decay: float = 0.99, dead_threshold: float = 1.0) -> None:
        super().__init__()
        self.size, self.dim, self.decay, self.dead_threshold = size, dim, decay, dead_threshold
        self.register_buffer("codebook", torch.zeros(size, dim))
        self.register_buffer("ema_count", torch.ones(size))
        self.register_buffer("ema_sum", torch.zeros(size, dim))
        self.register_buffer("initialised", torch.tensor(False))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Index of the closest code for each row of ``x`` [N, D]."""
        distance = (x.pow(2).sum(1, keepdim=True) - 2 * x @ self.codebook.t()
                    + self.codebook.pow(2).sum(1)[None])
        return distance.argmin(dim=1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Code vectors for integer ids of any shape → [..., D]."""
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.size):
            raise ValueError(f"code ids must lie in [0, {self.size}), got {int(codes.min())}..{int(codes.max())}")
        return F.embedding(codes, self.codebook)

    def _random_rows(self, x: torch.Tensor, count: int) -> torch.Tensor:
        """``count`` rows of ``x`` (repeated when the batch is smaller), slightly jittered."""
        repeats = -(-count // x.shape[0])
        pool = x.repeat(repeats, 1) if repeats > 1 else x
        rows = pool[torch.randperm(pool.shape[0], device=x.device)[:count]]
        return rows + 1e-3 * rows.std() * torch.randn_like(rows) if repeats > 1 else rows

    @torch.no_grad()
    def _update(self, x: torch.Tensor, codes: torch.Tensor) -> None:
        """EMA update of counts and sums, then re-seed codes that fell out of use."""
        onehot = F.one_hot(codes, self.size).type_as(x)
        self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ x, alpha=1 - self.decay)
        dead = self.ema_count < self.dead_threshold
        self.codebook.copy_(self.ema_sum / self.ema_count.clamp(min=1e-5)[:, None])
        n_dead = int(dead.sum())
        if n_dead:
            fresh = self._random_rows(x, n_dead)
            self.codebook[dead] = fresh
            self.ema_sum[dead] = fresh
            self.ema_count[dead] = 1.0

    def forward(self, x: torch.Tensor) -> QuantizerOutput:
        """Quantise rows of ``x`` [N, D]; in training mode also update the codebook."""
        x = x.float()
        if self.training and not bool(self.initialised):
            with torch.no_grad():
                self.codebook.copy_(self._random_rows(x, self.size))
                self.ema_sum.copy_(self.codebook)
                self.ema_count.fill_(1.0)
                self.initialised.fill_(True)
        codes = self.nearest(x)
        if self.training:
            self._update(x.detach(), codes)
        quantised = self.lookup(codes)
        commit = F.mse_loss(x, quantised.detach())
        counts = torch.bincount(codes, minlength=self.size).float()
        probs = counts / counts.sum()
        perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
        return QuantizerOutput(x + (quantised - x).detach(), codes, commit, perplexity,
                               (counts > 0).float().mean())
