"""The official InterMask text path after the tokenizer: OpenAI's CLIP text tower and InterMask's text head.

The official model never pools CLIP: it takes ``ln_final``'s output at all 77 positions, runs it through two
stock post-norm ``nn.TransformerEncoderLayer`` (``clipTrans``, no padding mask, so padding positions count) and a
LayerNorm (``clipln``), then reads the row at the EOT position (``token_ids.argmax(-1)``) as the 768-D condition.
Both halves load their weights under the official key names. CLIP's come from the user's own download of
OpenAI's ``ViT-L-14-336px.pt`` (a TorchScript archive of the whole fp16 CLIP); the functions at the end read such
a file, tell which CLIP it is and refuse one whose text tower cannot feed the head. Everything runs in float32,
as ``clip.load`` on CPU does.
"""

from __future__ import annotations

import hashlib
import math
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import assigned
from .clip_tokenizer import CONTEXT_LENGTH

#: Width of the official text head; the CLIP tower feeding it must be this wide (ViT-L/14's text tower).
CONDITION_WIDTH = 768
#: CLIP derives its head count from the width: 64 channels per head.
CLIP_HEAD_WIDTH = 64


class QuickGELU(nn.Module):
    """OpenAI's GELU approximation ``x·sigmoid(1.702x)``; CLIP was trained with it, exact GELU drifts."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _ClipBlock(nn.Module):
    """One pre-LN residual block: causal self-attention, then a 4× QuickGELU MLP (OpenAI's key names)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict(
            c_fc=nn.Linear(width, 4 * width), act=QuickGELU(), c_proj=nn.Linear(4 * width, width)))

    def forward(self, x: torch.Tensor, causal_mask: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=causal_mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class _ClipBlocks(nn.Module):
    """Holds the blocks under ``transformer.resblocks.{i}``, the path OpenAI's state dict uses."""

    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(_ClipBlock(width, heads) for _ in range(layers))


@dataclass(frozen=True)
class ClipTextShape:
    """Sizes of a CLIP text tower, read from its weights the way OpenAI's ``build_model`` does."""

    vocab_size: int
    context_length: int
    width: int
    layers: int

    @property
    def heads(self) -> int:
        return self.width // CLIP_HEAD_WIDTH

    @classmethod
    def of_state(cls, state: Mapping[str, torch.Tensor]) -> ClipTextShape:
        vocab_size, width = state["token_embedding.weight"].shape
        blocks = {key.split(".")[2] for key in state if key.startswith("transformer.resblocks.")}
        return cls(int(vocab_size), int(state["positional_embedding"].shape[0]), int(width), len(blocks))


class ClipTextTower(nn.Module):
    """CLIP's text transformer up to ``ln_final``: token ids ``[B, T]`` → per-token features ``[B, T, width]``.

    No ``text_projection`` and no pooling: InterMask's head consumes every position.
    """

    def __init__(self, shape: ClipTextShape) -> None:
        super().__init__()
        self.shape = shape
        self.token_embedding = nn.Embedding(shape.vocab_size, shape.width)
        self.positional_embedding = nn.Parameter(torch.zeros(shape.context_length, shape.width))
        self.transformer = _ClipBlocks(shape.width, shape.layers, shape.heads)
        self.ln_final = nn.LayerNorm(shape.width)

    @classmethod
    def from_state(cls, state: Mapping[str, torch.Tensor]) -> ClipTextTower:
        """A float32 tower in eval mode from text-tower weights with OpenAI's key names (all must be present).

        The tower adopts the given tensors (cast to float32) instead of copying them."""
        shape = ClipTextShape.of_state(state)
        tower = assigned(lambda: cls(shape), {k: v.float() for k, v in state.items()})
        return tower.eval().requires_grad_(False)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        length = token_ids.shape[1]
        x = self.token_embedding(token_ids) + self.positional_embedding[:length]
        # made per call (77 × 77, microseconds) rather than kept as a buffer, so the tower can be built empty
        mask = torch.full((length, length), float("-inf"), device=x.device).triu_(1)
        for block in self.transformer.resblocks:
            x = block(x, mask)
        return self.ln_final(x)


#: Official key prefix → our submodule, for the text head's tensors inside ``t2m_transformer``.
OFFICIAL_HEAD_PREFIXES = {"clipTrans.": "encoder.", "clipln.": "norm."}


class ClipConditionHead(nn.Module):
    """InterMask's text head: CLIP per-token features ``[B, T, 768]`` + token ids → condition ``[B, 768]``.

    Two stock post-norm encoder layers (768 wide, 8 heads, ff 2048, GELU), then a LayerNorm, then the row at
    the EOT position. No padding mask, exactly as the official model was trained.
    """

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            CONDITION_WIDTH, 8, 2048, dropout=0.1, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(CONDITION_WIDTH)

    @classmethod
    def from_official_state(cls, state: Mapping[str, torch.Tensor]) -> ClipConditionHead:
        """A float32 head in eval mode from an official ``t2m_transformer`` dict (other keys are ignored)."""
        ours: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            for official, mine in OFFICIAL_HEAD_PREFIXES.items():
                if key.startswith(official):
                    ours[mine + key[len(official):]] = value.float()
        head = cls()
        head.load_state_dict(ours, strict=True)
        return head.eval().requires_grad_(False)

    def refine(self, clip_features: torch.Tensor) -> torch.Tensor:
        """``clipln(clipTrans(x))`` at every position: ``[B, T, 768]``."""
        return self.norm(self.encoder(clip_features))

    def forward(self, clip_features: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
        refined = self.refine(clip_features)
        rows = torch.arange(refined.shape[0], device=refined.device)
        return refined[rows, token_ids.argmax(dim=-1)]


#: OpenAI's name for the CLIP the official InterMask uses.
VIT_L14_336 = "ViT-L/14@336px"
#: sha256 of OpenAI's ``ViT-L-14-336px.pt``. OpenAI's ``clip/clip.py`` (``_MODELS``) downloads it from
#: ``https://openaipublic.azureedge.net/clip/models/<sha256>/ViT-L-14-336px.pt`` and checks the file against
#: that path component; this is the value in that URL.
OPENAI_VIT_L14_336_SHA256 = "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02"

_TEXT_KEY_PREFIXES = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.")
_REQUIRED_TEXT_KEYS = ("token_embedding.weight", "positional_embedding", "ln_final.weight")
#: OpenAI's ViT CLIPs: (vision width, patch, resolution, text width) → name. All have 12 text layers; the
#: depth is not part of the key, so test stand-ins may have fewer.
_KNOWN_VITS = {
    (768, 32, 224, 512): "ViT-B/32",
    (768, 16, 224, 512): "ViT-B/16",
    (1024, 14, 224, 768): "ViT-L/14",
    (1024, 14, 336, 768): VIT_L14_336,
}


class ClipWeightsError(ValueError):
    """A CLIP file that InterMask's text head cannot use; the message is written for the user."""


def _is_torchscript_archive(path: Path) -> bool:
    """TorchScript archives carry compiled code (``code/``, ``constants.pkl``); ``torch.save`` files do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") or "/code/" in name for name in archive.namelist())


def read_clip_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a CLIP file as stored: OpenAI's TorchScript archive or a plain state dict.

    ``torch.jit.load`` is only for importing the user's OpenAI download (check it first with
    :func:`is_openai_vit_l14_336_file`: unlike ``weights_only`` loading it is not a restricted reader); the
    worker reads plain state dicts, which load with ``weights_only=True``.
    """
    path = Path(path)
    if _is_torchscript_archive(path):
        with warnings.catch_warnings():
            # torch deprecates TorchScript, but OpenAI ships CLIP only in that format.
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", DeprecationWarning)
            return dict(torch.jit.load(str(path), map_location="cpu").state_dict())
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise ClipWeightsError(f"{path} is not a CLIP weights file (expected a state dict).")
    return dict(state)


def text_tower_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Only the text tower's tensors, float32 (drops ``visual.*``, ``text_projection``, ``logit_scale``…)."""
    return {key: value.float() for key, value in state.items() if key.startswith(_TEXT_KEY_PREFIXES)}


def load_clip_text_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The float32 text-tower weights of a CLIP file, ready for :meth:`ClipTextTower.from_state`."""
    return text_tower_state(read_clip_state(path))


def _describe_vision(state: Mapping[str, torch.Tensor]) -> tuple[int, int, int] | str:
    """``(width, patch, resolution)`` of a ViT image tower, or words for anything else."""
    conv = state.get("visual.conv1.weight")
    positions = state.get("visual.positional_embedding")
    if conv is not None and positions is not None and conv.dim() == 4:
        grid = math.isqrt(int(positions.shape[0]) - 1)
        return int(conv.shape[0]), int(conv.shape[-1]), grid * int(conv.shape[-1])
    if "visual.attnpool.positional_embedding" in state:
        return "ResNet image tower"
    return "no image tower"


def identify_clip(state: Mapping[str, torch.Tensor]) -> str:
    """OpenAI's name for the CLIP these weights belong to (e.g. :data:`VIT_L14_336`), else a description.

    Decided from tensor shapes only: the image tower's width, patch size and resolution (from
    ``visual.conv1.weight`` and ``visual.positional_embedding``) and the text tower's width.
    """
    if not all(key in state for key in _REQUIRED_TEXT_KEYS):
        return "not a CLIP model (no text tower)"
    vision = _describe_vision(state)
    text = ClipTextShape.of_state(state)
    if isinstance(vision, tuple):
        name = _KNOWN_VITS.get((*vision, text.width))
        if name is not None:
            return name
        vision = f"ViT image tower {vision[0]} wide, patch {vision[1]}, {vision[2]} px"
    return f"unknown CLIP ({vision}; text tower {text.width} wide, {text.layers} layers)"


def check_clip_for_intermask(state: Mapping[str, torch.Tensor]) -> str:
    """Raise :class:`ClipWeightsError` unless the text tower can feed the official head; return its identity.

    The head is 768 wide, so only 768-wide text towers fit. Other 768-wide CLIPs (ViT-L/14 at 224 px) pass
    this check but give other conditions than the model was trained with: callers compare the returned name
    with :data:`VIT_L14_336` (or the file with :func:`is_openai_vit_l14_336_file`) and warn.
    """
    missing = [key for key in _REQUIRED_TEXT_KEYS if key not in state]
    if missing:
        raise ClipWeightsError(
            f"This file has no CLIP text tower (missing {', '.join(missing)}). "
            f"InterMask needs OpenAI's CLIP {VIT_L14_336} (ViT-L-14-336px.pt).")
    shape = ClipTextShape.of_state(state)
    name = identify_clip(state)
    if shape.width != CONDITION_WIDTH:
        raise ClipWeightsError(
            f"This CLIP ({name}) has a {shape.width}-wide text tower, but InterMask's text head needs "
            f"{CONDITION_WIDTH}. Use OpenAI's CLIP {VIT_L14_336} (ViT-L-14-336px.pt).")
    if shape.context_length != CONTEXT_LENGTH or shape.layers == 0:
        raise ClipWeightsError(
            f"This CLIP ({name}) has {shape.context_length} text positions and {shape.layers} text layers; "
            f"InterMask needs {CONTEXT_LENGTH} positions, as in OpenAI's CLIP {VIT_L14_336}.")
    return name


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (the real CLIP file is ≈0.9 GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_openai_vit_l14_336_file(path: str | Path) -> bool:
    """Whether the file is byte for byte OpenAI's ``ViT-L-14-336px.pt``."""
    return file_sha256(path) == OPENAI_VIT_L14_336_SHA256
