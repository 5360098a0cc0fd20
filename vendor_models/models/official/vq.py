"""The official InterMask VQ-VAE (the released graph-layer variant) in plain torch, keyed like the release.

Its structure differs from our VQ-VAE (SAGE graph layers at both ends, ReLU, dilations on both axes, no
contact head), so it gets its own class whose ``state_dict`` keys are exactly the official ones and
loads strictly. Per joint the network sees ``[pos3, vel3, rot6]`` (root rotation zero); time is
downsampled ×4 and joints 22 → 11 → 5, giving a ``[5, T/4]`` code map per person, like ours.
"""

from __future__ import annotations

import torch
from torch import nn

from ...motion.features import CONTACT, FEATURE_DIM, POS, ROT, VEL
from ...motion.protocol import FRAMES_PER_TOKEN
from ...motion.skeleton import NUM_JOINTS
from ..vq.layers import mean_adjacency
from ..vq.vqvae import TOKEN_JOINTS
from .options import OfficialReleaseError, OfficialVQOptions

JOINT_CHANNELS = 12
#: stride-2 conv stages (``down_t`` = ``stride_t`` = 2, checked by the options): joints 22 → 11 → 5, time ÷4
STAGES = 2
#: nearest-neighbour upsampling (joints, time) of the decoder stages: 5 → 11 → 22 joints, time ×4
UPSAMPLE = ((2.2, 2.0), (2.0, 2.0))


class ProjectedSAGEConv(nn.Module):
    """torch_geometric's ``SAGEConv(project=True)`` with mean aggregation, keyed ``lin``/``lin_l``/``lin_r``.

    ``out_j = lin_l(mean_{k ~ j} relu(lin(x_k))) + lin_r(x_j)`` on the 22-joint tree (both directions of
    every kinematic-chain link, no self loops). The official code flattens B·T skeletons into one graph
    but passes the single-skeleton edge list unshifted, so only the first skeleton (batch item 0, frame 0)
    receives messages; every other node gets ``lin_l(0) + lin_r(x)``. The released weights were trained
    that way, so it is reproduced literally.
    """

    adjacency: torch.Tensor

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.lin = nn.Linear(channels_in, channels_in)
        self.lin_l = nn.Linear(channels_in, channels_out)
        self.lin_r = nn.Linear(channels_in, channels_out, bias=False)
        self.register_buffer("adjacency", mean_adjacency(), persistent=False)

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        """``nodes [B, T, J, C_in] → [B, T, J, C_out]``."""
        messages = nodes.new_zeros(*nodes.shape[:-1], self.lin.out_features)
        messages[0, 0] = self.adjacency @ torch.relu(self.lin(nodes[0, 0]))
        return self.lin_l(messages) + self.lin_r(nodes)


class ResidualConvBlock(nn.Module):
    """``x + conv2(relu(conv1(relu(x))))``; conv1 is 3×3 dilated along BOTH joints and time."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, 1, dilation, dilation)
        self.conv2 = nn.Conv2d(width, width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(torch.relu(x))))


class ResidualStack(nn.Module):
    """``depth`` blocks with dilations growth**k, largest first (encoder and decoder alike)."""

    def __init__(self, width: int, depth: int, growth: int) -> None:
        super().__init__()
        self.model = nn.Sequential(*[ResidualConvBlock(width, growth ** k) for k in reversed(range(depth))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def _graph_pair(first: ProjectedSAGEConv, second: ProjectedSAGEConv, x: torch.Tensor,
                relu_out: bool) -> torch.Tensor:
    """Two graph layers with a ReLU between (and after, when ``relu_out``) on a ``[B, C, J, T]`` map."""
    nodes = torch.relu(first(x.permute(0, 3, 2, 1)))
    nodes = second(nodes)
    return (torch.relu(nodes) if relu_out else nodes).permute(0, 3, 2, 1)


class OfficialEncoder(nn.Module):
    def __init__(self, opt: OfficialVQOptions) -> None:
        super().__init__()
        w = opt.width
        self.gcn_layer1 = ProjectedSAGEConv(JOINT_CHANNELS, w)
        self.gcn_layer2 = ProjectedSAGEConv(w, w)
        stages = [nn.Sequential(nn.Conv2d(w, w, 4, 2, 1), ResidualStack(w, opt.depth, opt.dilation_growth_rate))
                  for _ in range(STAGES)]
        self.model = nn.Sequential(*stages, nn.Conv2d(w, opt.code_dim, 3, 1, 1))

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        """``[B, 12, 22, T] → [B, code_dim, 5, T/4]``."""
        return self.model(_graph_pair(self.gcn_layer1, self.gcn_layer2, joints, relu_out=True))


class OfficialDecoder(nn.Module):
    def __init__(self, opt: OfficialVQOptions) -> None:
        super().__init__()
        w = opt.width
        stages = [nn.Sequential(ResidualStack(w, opt.depth, opt.dilation_growth_rate),
                                nn.Upsample(scale_factor=scale, mode="nearest"), nn.Conv2d(w, w, 3, 1, 1))
                  for scale in UPSAMPLE]
        self.model = nn.Sequential(nn.Conv2d(opt.code_dim, w, 3, 1, 1), nn.ReLU(), *stages,
                                   nn.Conv2d(w, w, 3, 1, 1), nn.ReLU())
        self.gcn_layer1 = ProjectedSAGEConv(w, w)
        self.gcn_layer2 = ProjectedSAGEConv(w, JOINT_CHANNELS)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, code_dim, 5, L] → [B, 12, 22, 4L]``."""
        return _graph_pair(self.gcn_layer1, self.gcn_layer2, self.model(z), relu_out=False)


class Codebook(nn.Module):
    codebook: torch.Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("codebook", torch.zeros(size, dim))


class CodebookQuantizer(nn.Module):
    """The release's residual quantizer with its single layer (``quantizer.layers.0.codebook``)."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([Codebook(size, dim)])

    @property
    def codebook(self) -> torch.Tensor:
        layer = self.layers[0]
        assert isinstance(layer, Codebook)
        return layer.codebook

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """``[N, D] → [N]`` ids of the nearest codes (squared distance, as the release computes it)."""
        book = self.codebook
        distance = flat.pow(2).sum(-1, keepdim=True) - 2 * flat @ book.t() + book.pow(2).sum(-1)[None, :]
        return distance.argmin(-1)


def joints_from_features(feats: torch.Tensor) -> torch.Tensor:
    """Normalised ``[B, T, 262] → [B, 12, 22, T]`` (``[pos, vel, rot6d]`` per joint, zero root rotation)."""
    b, t, _ = feats.shape
    pos = feats[..., POS].reshape(b, t, NUM_JOINTS, 3)
    vel = feats[..., VEL].reshape(b, t, NUM_JOINTS, 3)
    rot = feats[..., ROT].reshape(b, t, NUM_JOINTS - 1, 6)
    rot = torch.cat([rot.new_zeros(b, t, 1, 6), rot], dim=2)
    return torch.cat([pos, vel, rot], dim=-1).permute(0, 3, 2, 1)


def features_from_joints(joints: torch.Tensor) -> torch.Tensor:
    """``[B, 12, 22, T] → [B, T, 262]``; the release has no contact head, so contacts are 0."""
    per_joint = joints.permute(0, 3, 2, 1)
    b, t = per_joint.shape[:2]
    contacts = per_joint.new_zeros(b, t, CONTACT.stop - CONTACT.start)
    return torch.cat([per_joint[..., 0:3].flatten(2), per_joint[..., 3:6].flatten(2),
                      per_joint[:, :, 1:, 6:12].flatten(2), contacts], dim=-1)


class OfficialVQVAE(nn.Module):
    """Encoder → nearest code → decoder of one person's motion, in the release's normalised feature space."""

    def __init__(self, opt: OfficialVQOptions) -> None:
        super().__init__()
        self.encoder = OfficialEncoder(opt)
        self.decoder = OfficialDecoder(opt)
        self.quantizer = CodebookQuantizer(opt.nb_code, opt.code_dim)

    @torch.no_grad()
    def encode(self, feats: torch.Tensor) -> torch.Tensor:
        """Normalised ``[B, T, 262]`` (T a multiple of 4) → code ids ``[B, 5, T/4]``."""
        if feats.ndim != 3 or feats.shape[-1] != FEATURE_DIM or feats.shape[1] % FRAMES_PER_TOKEN or not feats.shape[1]:
            raise ValueError(f"features must be [batch, 4k frames, {FEATURE_DIM}], got {tuple(feats.shape)}")
        z = self.encoder(joints_from_features(feats.float()))          # [B, D, 5, L]
        b, d, g, steps = z.shape
        return self.quantizer.nearest(z.permute(0, 2, 3, 1).reshape(-1, d)).view(b, g, steps)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Code ids ``[B, 5, L]`` → normalised features ``[B, 4L, 262]`` (contacts 0)."""
        if codes.ndim != 3 or codes.shape[1] != TOKEN_JOINTS:
            raise ValueError(f"codes must be [batch, {TOKEN_JOINTS}, frames/4], got {tuple(codes.shape)}")
        z = self.quantizer.codebook[codes.long()].permute(0, 3, 1, 2)   # [B, D, 5, L]
        return features_from_joints(self.decoder(z))


def _older_variant(state: dict[str, torch.Tensor]) -> bool:
    first = state.get("encoder.model.0.weight")
    return (first is not None and first.ndim == 4 and first.shape[1] == JOINT_CHANNELS) or any(
        key.startswith("decoder.model.6.") for key in state)


def vq_from_state(opt: OfficialVQOptions, state: dict[str, torch.Tensor]) -> OfficialVQVAE:
    """Build the VQ-VAE and load the release's ``vq_model`` strictly (eval mode)."""
    if _older_variant(state):
        raise OfficialReleaseError(
            "this VQ checkpoint is the older InterMask VQ-VAE without graph layers (encoder.model.0.weight "
            "[C, 12, 3, 3], decoder.model.6); only the released graph-layer VQ-VAE is supported")
    model = OfficialVQVAE(opt)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise OfficialReleaseError(f"the VQ checkpoint does not match the official VQ-VAE: {exc}") from exc
    return model.eval()
