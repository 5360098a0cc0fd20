"""Building blocks of the Inter-M Transformer: AdaLN modulation, attention, the Inter-M block.

Every sub-layer is pre-norm (LayerNorm without affine) and modulated DiT-style by the text vector:
``x + gate * f(norm(x) * (1 + scale) + shift)``. The modulation layers start at zero, so at
initialisation each block is the identity and the text only enters as training finds it useful.
Tensors are batch-first. A person's tokens are ``[B, G*L, D]`` laid out group-major (G spatial groups
of L time steps), which is InterMask's order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Apply per-sample shift/scale ``[B, D]`` to ``x [B, N, D]``."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class AdaLN(nn.Module):
    """Text vector → ``chunks`` modulation vectors, zero-initialised (identity at the start)."""

    def __init__(self, dim: int, chunks: int) -> None:
        super().__init__()
        self.chunks = chunks
        self.linear = nn.Linear(dim, chunks * dim)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, cond: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.linear(F.silu(cond)).chunk(self.chunks, dim=-1)


def norm(x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


class Attention(nn.Module):
    """Multi-head attention on scaled_dot_product_attention.

    No dropout on the attention weights: on CPU that forces the unfused kernel and draws a random
    number per attention entry, which costs more than the rest of a training step. The block applies
    dropout to the attention output instead.
    """

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"transformer width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, key_pad: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, N, D]`` attends to ``context [B, M, D]``; ``key_pad [B, M]`` True marks padding."""
        b, n, d = x.shape
        h = self.heads
        q = self.q(x).view(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(context).view(b, context.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        mask = None if key_pad is None else ~key_pad[:, None, None, :]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class FeedForward(nn.Module):
    def __init__(self, dim: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class InterMBlock(nn.Module):
    """One Inter-M block over ``[p1 | SEP | p2]``.

    1. self-attention over the whole sequence + FFN;
    2. per person (weights shared by both): spatial attention across the G groups at each time step and
       temporal attention across time for each group, computed in parallel and summed;
    3. cross-attention: each person's step-2 output queries the other person's step-1 tokens;
    4. FFN.
    """

    def __init__(self, dim: int, heads: int, ff: int, dropout: float, groups: int,
                 doubled_residual: bool = False) -> None:
        super().__init__()
        self.groups = groups
        self.doubled_residual = doubled_residual
        self.mod_joint = AdaLN(dim, 6)
        self.self_attn = Attention(dim, heads)
        self.ffn_joint = FeedForward(dim, ff, dropout)
        self.mod_split = AdaLN(dim, 14)
        self.spatial = Attention(dim, heads)
        self.temporal = Attention(dim, heads)
        self.cross = Attention(dim, heads)
        self.ffn_split = FeedForward(dim, ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        """``x [B, 2N+1, D]``, ``cond [B, D]``, ``pad [B, N]`` (per person, True = padding) or None."""
        b, total, d = x.shape
        n = (total - 1) // 2
        sh_a, sc_a, g_a, sh_f, sc_f, g_f = self.mod_joint(cond)
        full_pad = None if pad is None else torch.cat([pad, pad.new_zeros(b, 1), pad], dim=1)
        h = modulate(norm(x), sh_a, sc_a)
        x = x + g_a.unsqueeze(1) * self.drop(self.self_attn(h, h, full_pad))
        x = x + g_f.unsqueeze(1) * self.drop(self.ffn_joint(modulate(norm(x), sh_f, sc_f)))

        p1, sep, p2 = x.split([n, 1, n], dim=1)
        (sh_s, sc_s, g_s, sh_t, sc_t, g_t, sh_q, sc_q, sh_k, sc_k, g_c, sh_o, sc_o, g_o) = self.mod_split(cond)
        people = torch.cat([p1, p2], dim=0)                      # [2B, N, D]: both people share weights
        cond2 = lambda t: torch.cat([t, t], dim=0)               # noqa: E731 - per-person copy of a modulation
        pad2 = None if pad is None else torch.cat([pad, pad], dim=0)
        st = self._spatio_temporal(people, cond2(sh_s), cond2(sc_s), cond2(g_s),
                                   cond2(sh_t), cond2(sc_t), cond2(g_t), pad2)
        other = torch.cat([p2, p1], dim=0)
        other_pad = pad2
        q = modulate(norm(st), cond2(sh_q), cond2(sc_q))
        k = modulate(norm(other), cond2(sh_k), cond2(sc_k))
        st = st + cond2(g_c).unsqueeze(1) * self.drop(self.cross(q, k, other_pad))
        st = st + cond2(g_o).unsqueeze(1) * self.drop(self.ffn_split(modulate(norm(st), cond2(sh_o), cond2(sc_o))))
        q1, q2 = st.split(b, dim=0)
        return torch.cat([q1, sep, q2], dim=1)

    def _spatio_temporal(self, x: torch.Tensor, sh_s: torch.Tensor, sc_s: torch.Tensor, g_s: torch.Tensor,
                         sh_t: torch.Tensor, sc_t: torch.Tensor, g_t: torch.Tensor,
                         pad: torch.Tensor | None) -> torch.Tensor:
        bb, n, d = x.shape
        g = self.groups
        steps = n // g
        grid = x.view(bb, g, steps, d)
        normed = norm(grid)
        per = lambda t: t[:, None, None, :]  # noqa: E731 - broadcast a [B, D] modulation over the grid
        # spatial: the G groups of one time step attend to each other (no padding mask, as InterMask)
        spa = (normed * (1 + per(sc_s)) + per(sh_s)).transpose(1, 2).reshape(bb * steps, g, d)
        spa = self.spatial(spa, spa).view(bb, steps, g, d).transpose(1, 2)
        # temporal: each group's time steps attend to each other
        tmp = (normed * (1 + per(sc_t)) + per(sh_t)).reshape(bb * g, steps, d)
        tpad = None if pad is None else pad.view(bb * g, steps)
        tmp = self.temporal(tmp, tmp, tpad).view(bb, g, steps, d)
        # the two updates are summed onto ONE residual; InterMask gives each branch its own residual and
        # sums those, which doubles the residual stream in every block (×2^layers at initialisation).
        # Its released weights were trained that way, so ``doubled_residual`` reproduces it for them.
        if self.doubled_residual:
            out = (grid + per(g_s) * self.drop(spa)) + (grid + per(g_t) * self.drop(tmp))
        else:
            out = grid + per(g_s) * self.drop(spa) + per(g_t) * self.drop(tmp)
        return out.reshape(bb, n, d)
