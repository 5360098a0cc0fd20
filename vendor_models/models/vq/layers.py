"""Building blocks of the VQ-VAE: a joint-graph convolution and dilated residual conv stacks.

The graph layer mixes each joint with its kinematic neighbours (SAGE-style: own features plus the mean
of the neighbours'), which the later 2D convolutions cannot do because they only see neighbouring joint
*indices*. torch_geometric is not a dependency; the skeleton is tiny, so a dense row-normalised
adjacency matrix is the simplest and fastest way.
"""

from __future__ import annotations

import torch
from torch import nn

from ...motion.skeleton import NUM_JOINTS, PARENTS

LEAK = 0.2


def act() -> nn.Module:
    """The network's activation: a leaky ReLU, because plain ReLUs before the output layers died early
    in training (all-zero features → a decoder that outputs one constant pose)."""
    return nn.LeakyReLU(LEAK)


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


class PerJointLinear(nn.Module):
    """A separate linear map (and bias) for every joint over a [B, C, J, T] map.

    The conv trunk shares its weights across the joint axis, so by itself it can hardly tell an elbow
    from a knee; giving each joint its own input and output projection supplies that identity (without
    it, training sat on the "predict the mean pose" plateau for hundreds of steps).
    """

    def __init__(self, joints: int, channels_in: int, channels_out: int) -> None:
        super().__init__()
        bound = channels_in ** -0.5
        self.weight = nn.Parameter(torch.empty(joints, channels_in, channels_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(channels_out, joints, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bcjt,jco->bojt", x, self.weight) + self.bias


class ResBlock(nn.Module):
    """ReLU → 3×3 conv (dilated along time) → ReLU → 1×1 conv → dropout, plus the input.

    The branch's last conv starts at zero, so every block starts as the identity (see :func:`init_weights`).
    """

    def __init__(self, width: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            act(),
            nn.Conv2d(width, width, 3, padding=(1, dilation), dilation=(1, dilation)),
            act(),
            nn.Conv2d(width, width, 1),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def res_stack(width: int, depth: int, growth: int, dropout: float) -> nn.Sequential:
    """``depth`` residual blocks with time dilations growth**k, largest first (as MoMask/InterMask)."""
    return nn.Sequential(*[ResBlock(width, growth ** k, dropout) for k in reversed(range(depth))])


def init_weights(model: nn.Module) -> None:
    """He-normal weights and zero biases everywhere, residual branches ending at zero.

    Why: with PyTorch's default init each of the ~10 plain layers shrank the signal about six-fold, so at
    the start the decoder's output did not depend on its input at all and training crawled; He init keeps
    the signal's scale through the (leaky) ReLU layers, and zero-ended residual branches keep the stacks from
    inflating it.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, a=LEAK, nonlinearity="leaky_relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, PerJointLinear):
            nn.init.normal_(module.weight, std=(2.0 / (1 + LEAK ** 2) / module.weight.shape[1]) ** 0.5)
            nn.init.zeros_(module.bias)
    for module in model.modules():
        if isinstance(module, JointGraphConv):      # two summed paths: keep the variance of one
            module.own.weight.data.mul_(0.5 ** 0.5)
            module.neighbours.weight.data.mul_(0.5 ** 0.5)
        elif isinstance(module, ResBlock):
            last = module.body[3]
            assert isinstance(last, nn.Conv2d)
            nn.init.zeros_(last.weight)
