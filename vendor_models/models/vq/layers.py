"""Building blocks of the VQ-VAE: a joint-graph convolution and dilated residual conv stacks.

The graph layer mixes each joint with its kinematic neighbours (SAGE-style: own features plus the mean
of the neighbours'), which the later 2D convolutions cannot do because they only see neighbouring joint
*indices*. torch_geometric is not a dependency; the skeleton is tiny, so a dense row-normalised
adjacency matrix is the simplest and fastest way.
"""

from __future__ import annotations

import torch
from torch import nn

from ...skeleton import NUM_JOINTS, PARENTS


def mean_adjacency(parents: tuple[int, ...] = PARENTS) -> torch.Tensor:
    """Row-normalised adjacency [J, J] of the undirected kinematic tree (no self loops)."""
    adjacency = torch.zeros(len(parents), len(parents))
    for child, parent in enumerate(parents):
        if parent >= 0:
            adjacency[child, parent] = adjacency[parent, child] = 1.0
    return adjacency / adjacency.sum(1, keepdim=True)


class JointGraphConv(nn.Module):
    """``out_j = W_self x_j + W_neigh mean_{k ~ j} x_k`` over a [B, C, J, T] map."""

    adjacency: torch.Tensor

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.own = nn.Conv2d(channels_in, channels_out, 1)
        self.neighbours = nn.Conv2d(channels_in, channels_out, 1, bias=False)
        self.register_buffer("adjacency", mean_adjacency(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] != NUM_JOINTS:
            raise ValueError(f"graph conv expects {NUM_JOINTS} joints on axis 2, got {x.shape[2]}")
        mean_of_neighbours = torch.einsum("jk,bckt->bcjt", self.adjacency, x)
        return self.own(x) + self.neighbours(mean_of_neighbours)


class ResBlock(nn.Module):
    """ReLU → 3×3 conv (dilated along time) → ReLU → 1×1 conv → dropout, plus the input."""

    def __init__(self, width: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=(1, dilation), dilation=(1, dilation)),
            nn.ReLU(),
            nn.Conv2d(width, width, 1),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def res_stack(width: int, depth: int, growth: int, dropout: float) -> nn.Sequential:
    """``depth`` residual blocks with time dilations growth**k, largest first (as MoMask/InterMask)."""
    return nn.Sequential(*[ResBlock(width, growth ** k, dropout) for k in reversed(range(depth))])
