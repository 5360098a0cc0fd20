"""The Inter-M Transformer: token ids of two people + a text vector → logits over the VQ codebook.

Input ids are ``[B, 2, G, L]`` (person, spatial group, time step); the network sees
``[p1 tokens | SEP | p2 tokens]`` with a 2D sinusoidal position code (group × time) added to each person
(the same code for both, none for SEP). Text enters only through AdaLN. A zero text vector is the
unconditional input used by classifier-free guidance.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import TransformerConfig
from .layers import AdaLN, InterMBlock, modulate, norm


def sinusoid(positions: torch.Tensor, channels: int) -> torch.Tensor:
    """``[N] → [N, channels]`` sin/cos code of integer positions: all sines, then all cosines."""
    freqs = torch.exp(torch.arange(0, channels, 2, dtype=torch.float32) * (-math.log(10000.0) / channels))
    angles = positions.float()[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)[:, :channels]


def interleaved_frequencies(dim: int) -> torch.Tensor:
    """Frequencies of the official 2D code of width ``dim``: each axis gets ``2·ceil(dim/4)`` channels
    (positional-encodings' PositionalEncoding2D; the release stores them as ``inv_freq``)."""
    channels = 2 * math.ceil(dim / 4)
    return 1.0 / 10000 ** (torch.arange(0, channels, 2, dtype=torch.float32) / channels)


def interleaved_sinusoid(positions: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """``[N] → [N, 2F]`` code laid out sin, cos per frequency (the official channel order)."""
    angles = positions.float()[:, None] * freqs[None, :]
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)


def position_code_2d(groups: int, steps: int, dim: int, interleaved: bool = False) -> torch.Tensor:
    """``[G*L, dim]`` code: the first half of the channels encodes the group, the second the time step.

    ``interleaved`` gives the official release's layout (its halves are ``2·ceil(dim/4)`` wide, cut to dim).
    """
    if interleaved:
        freqs = interleaved_frequencies(dim)
        g, t = interleaved_sinusoid(torch.arange(groups), freqs), interleaved_sinusoid(torch.arange(steps), freqs)
    else:
        half = dim // 2
        g, t = sinusoid(torch.arange(groups), half), sinusoid(torch.arange(steps), dim - half)
    grid = torch.cat([g[:, None, :].expand(groups, steps, -1), t[None, :, :].expand(groups, steps, -1)], dim=-1)
    return grid[..., :dim].reshape(groups * steps, dim)


class TextHead(nn.Module):
    """Sentence vector → condition vector. The paper preset adds residual MLP layers (its trainable
    text transformer over CLIP tokens becomes, for a pooled sentence vector, a per-vector MLP)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        width = config.text_width or config.text_dim
        self.inp = nn.Linear(config.text_dim, width) if config.text_width else nn.Identity()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, config.text_ff), nn.GELU(),
                          nn.Linear(config.text_ff, width))
            for _ in range(config.text_layers)
        )
        self.out_norm = nn.LayerNorm(width) if config.text_layers else nn.Identity()
        self.out = nn.Linear(width, config.dim)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        h = self.inp(text)
        for block in self.blocks:
            h = h + block(h)
        return self.out(self.out_norm(h))


class InterMTransformer(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.token_emb = nn.Embedding(config.vocab, config.token_dim)
        self.token_proj = nn.Linear(config.token_dim, config.dim)
        self.text_head = TextHead(config)
        self.blocks = nn.ModuleList(
            InterMBlock(config.dim, config.heads, config.ff, config.dropout, config.groups, config.doubled_residual)
            for _ in range(config.layers)
        )
        self.emb_drop = nn.Dropout(config.dropout)
        self.head_dense = nn.Linear(config.dim, config.dim)
        self.head_mod = AdaLN(config.dim, 2)
        self.head_out = nn.Linear(config.dim, config.num_codes)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.zeros_(module.bias)
        for module in self.modules():  # AdaLN stays zero: each block starts as the identity
            if isinstance(module, AdaLN):
                nn.init.zeros_(module.linear.weight)
                nn.init.zeros_(module.linear.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids: torch.Tensor, text: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """``ids [B, 2, G, L]`` long, ``text [B, text_dim]``, ``pad [B, L]`` True past each item's length.

        Returns logits ``[B, 2, G, L, num_codes]``.
        """
        b, people, g, steps = ids.shape
        if people != 2 or g != self.config.groups:
            raise ValueError(f"token ids must be [B, 2, {self.config.groups}, L], got {tuple(ids.shape)}")
        cfg = self.config
        n = g * steps
        x = self.token_proj(self.token_emb(ids.reshape(b, 2, n)))                  # [B, 2, N, D]
        x = x + position_code_2d(g, steps, cfg.dim, cfg.official_position_code).to(x)
        sep = self.token_proj(self.token_emb.weight[cfg.sep_id]).expand(b, 1, cfg.dim)
        seq = self.emb_drop(torch.cat([x[:, 0], sep, x[:, 1]], dim=1))             # [B, 2N+1, D]
        token_pad = None if pad is None else pad[:, None, :].expand(b, g, steps).reshape(b, n)
        cond = self.text_head(text)
        for block in self.blocks:
            seq = block(seq, cond, token_pad)
        seq = torch.cat([seq[:, :n], seq[:, n + 1:]], dim=1)                        # drop SEP
        h = norm(nn.functional.gelu(self.head_dense(seq)))
        shift, scale = self.head_mod(cond)
        logits = self.head_out(modulate(h, shift, scale))
        return logits.view(b, 2, g, steps, cfg.num_codes)
